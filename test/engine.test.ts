// Compiled programs run on the host in the BPF interpreter against a simulated ring: the samples' logic
// (not only their acceptance by the verifier) is checked on every test run, without a VM.
import * as crypto from "crypto";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileFile } from "../compiler/index";
import { runOnFakeRing } from "./support/fakering";

const sample = (n: string) => compileFile(path.join(__dirname, "..", "samples", n));

describe("samples on a simulated ring", () => {
  it("nops runs 1000 NOPs and counts down to 0", () => {
    const r = runOnFakeRing(sample("nops.ts"), { set: { reqsToRun: 1000 } });
    expect(r.ret).toBe(1n);
    expect(r.get("reqsToRun")).toBe(0n);
    expect(r.get("result")).toBe(0n);
    expect(r.get("inflight")).toBe(0n);
  });

  it("nops reports a wrong user_data", () => {
    const res = sample("nops.ts");
    // A ring with a 4-entry CQ still works: indices wrap.
    const r = runOnFakeRing(res, { set: { reqsToRun: 37 }, cqEntries: 8 });
    expect(r.get("reqsToRun")).toBe(0n);
    expect(r.get("result")).toBe(0n);
  });

  it("cp copies a file byte for byte", () => {
    const data = crypto.randomBytes(100_000 + 123);
    const files = new Map([
      [3, { data: new Uint8Array(data), size: data.length }],
      [4, { data: new Uint8Array(0), size: 0 }],
    ]);
    const r = runOnFakeRing(sample("cp.ts"), { files, buffers: { buf: 4096 }, set: { inFd: 3, outFd: 4 } });
    expect(r.get("result")).toBe(0n);
    expect(r.get("copied")).toBe(BigInt(data.length));
    const out = files.get(4)!;
    expect(Buffer.from(out.data.subarray(0, out.size)).equals(data)).toBe(true);
  });
});
