// The use-case samples on the simulated ring (host, no VM): each sample's behaviour, not just that it
// compiles. The VM tests run the same samples in the 7.x kernel.
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileFile } from "../compiler/index";
import { runOnFakeRing } from "./support/fakering";
import { makeMessages, makeRecords } from "./support/records";

const sample = (n: string) => {
  const res = compileFile(path.join(__dirname, "..", "samples", n));
  if (!res.ok) throw new Error(JSON.stringify(res.diagnostics));
  return res;
};
const file = (data: Uint8Array) => ({ data, size: data.length });

describe("samples on a simulated ring", () => {
  it("records: reads length-prefixed records, each body read sized by its header", () => {
    const rec = makeRecords(60);
    const r = runOnFakeRing(sample("records.ts"), { mem: 8192, files: new Map([[3, file(new Uint8Array(rec.file))]]), set: { inFd: 3 } });
    const m = new DataView(r.mem!.buffer);
    expect([m.getInt32(0, true), m.getUint32(4, true), Number(m.getBigUint64(8, true)), m.getUint32(16, true)]).toEqual([0, rec.records, rec.bytes, rec.checksum]);
  });

  it("records: a torn record is reported, not silently counted", () => {
    const rec = makeRecords(10);
    const torn = rec.file.subarray(0, rec.file.length - 1);
    const r = runOnFakeRing(sample("records.ts"), { mem: 8192, files: new Map([[3, file(new Uint8Array(torn))]]), set: { inFd: 3 } });
    expect(new DataView(r.mem!.buffer).getInt32(0, true)).toBe(-74);
  });

  it("drain: the barrier completes after every write and the commit after the barrier", () => {
    const files = new Map([[5, file(new Uint8Array(0))]]);
    const r = runOnFakeRing(sample("drain.ts"), { mem: 4096, files, set: { fd: 5 } });
    const m = new DataView(r.mem!.buffer);
    const n = m.getUint32(4, true);
    const order = [...Array(n)].map((_, i) => m.getBigUint64(8 + i * 8, true));
    expect(m.getInt32(0, true)).toBe(0);
    expect(order.slice(6)).toEqual([1000n, 2000n]);
    expect([...order.slice(0, 6)].sort()).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(files.get(5)!.size).toBe(7 * 512);
  });

  it("qd: keeps exactly `depth` requests in flight until all 200 are done", () => {
    const r = runOnFakeRing(sample("qd.ts"), { mem: 16384, set: { depth: 4 }, memInit: (b) => new DataView(b.buffer).setUint32(0, 200, true) });
    const m = new DataView(r.mem!.buffer);
    expect([m.getInt32(4, true), m.getUint32(8, true), m.getUint32(12, true), m.getUint32(16, true)]).toEqual([0, 200, 200, 4]);
  });

  it("waitsteps: a stage ends by its count, the next by its deadline", () => {
    const r = runOnFakeRing(sample("waitsteps.ts"), {
      mem: 4096,
      sqEntries: 16,
      cqEntries: 32,
      memInit: (b) => {
        const d = new DataView(b.buffer);
        d.setUint32(4, 4, true); // work
        d.setUint32(8, 2, true); // stages
        [200, 400, 600, 800].forEach((ms, i) => d.setUint32(12 + i * 4, ms, true));
        d.setUint32(44, 2, true); // need[0]
        d.setUint32(48, 10, true); // need[1]
        d.setUint32(76, 1000, true); // deadlineMs[0]
        d.setUint32(80, 300, true); // deadlineMs[1]
      },
    });
    const d = new DataView(r.mem!.buffer);
    expect(d.getInt32(0, true)).toBe(0);
    expect([d.getUint32(108, true), d.getUint32(112, true)]).toEqual([0, 1]); // by count, then by deadline
    expect([d.getUint32(140, true), d.getUint32(144, true)]).toEqual([2, 1]); // work seen per stage
  });

  it("spin: NOPs complete at submission, so no busy check is needed", () => {
    const r = runOnFakeRing(sample("spin.ts"), { mem: 64 });
    expect([r.get("status"), r.get("done"), r.get("sleeps")]).toEqual([0n, 1000n, 0n]);
  });

  it("peek: routes each message by the type in its header", () => {
    const msgs = makeMessages(40);
    const files = new Map([[3, file(new Uint8Array(msgs.file))], [4, file(new Uint8Array(0))], [5, file(new Uint8Array(0))]]);
    const r = runOnFakeRing(sample("peek.ts"), { mem: 70000, files, set: { inFd: 3, outA: 4, outB: 5 } });
    const m = new DataView(r.mem!.buffer);
    expect(m.getInt32(0, true)).toBe(0);
    expect(m.getUint32(12, true)).toBe(msgs.skipped);
    const out = (fd: number) => Buffer.from(files.get(fd)!.data.subarray(0, files.get(fd)!.size));
    expect(out(4).equals(msgs.a)).toBe(true);
    expect(out(5).equals(msgs.b)).toBe(true);
  });
});
