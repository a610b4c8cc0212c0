// BTF-defined maps on the host: the `.maps` section, symbols, relocations and BTF as libbpf's
// parse_btf_map_def reads them, side by side with clang's object for the same C declarations; libbpf 1.4
// opening the object; bpftool's BTF dump and skeleton; and the interpreter's map semantics (the kernel's,
// checked in the VM by test/lang.test.ts) on the simulated ring.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileSource, formatDiagnostics } from "../compiler/index";
import { readObject, type BtfType, type ObjectFile } from "../compiler/elf/reader";
import { runOnFakeRing } from "./support/fakering";
import { loadAddon, runUserEngine } from "../runtime/engine/driver";

const root = path.join(__dirname, "..");
const sysroot = path.join(root, ".cache", "uringbpf", "sysroot");
const bpftool = path.join(sysroot, "usr", "sbin", "bpftool");
const libbpfA = path.join(sysroot, "usr", "lib", "x86_64-linux-gnu", "libbpf.a");
const has = (cmd: string) => spawnSync(cmd, ["--version"]).status === 0;
if (process.env.CI && (!fs.existsSync(bpftool) || !fs.existsSync(libbpfA) || !has("clang"))) throw new Error("bpftool, libbpf.a or clang missing: run scripts/deps.sh");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-maps-"));

const SOURCE = `import { loopStep, arrayMap, hashMap, ringBuf, u32, u64, i32, STOP } from "uringbpf";
interface Stamp { start: u64; kind: u32; }
interface Event { userData: u64; res: i32; flags: u32; }
export const inflight = hashMap<u64, Stamp>(64);
export const hist = arrayMap<u64>(32);
export const events = ringBuf<Event>(8192);
export const p = loopStep((ring, lp) => {
  const h = hist.lookup(3);
  if (h !== null) h.value += 1n;
  inflight.update(7n, { start: 1n, kind: 2 });
  events.output({ userData: 1n, res: 0, flags: 0 });
  return STOP;
});
`;
/** The same maps as a C programmer declares them for libbpf. */
const C_SOURCE = `#include <linux/bpf.h>
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
struct Stamp { unsigned long long start; unsigned int kind; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, unsigned long long); __type(value, struct Stamp); } inflight SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 32); __type(key, unsigned int); __type(value, unsigned long long); } hist SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 8192); } events SEC(".maps");
`;

function compiled(): { obj: ObjectFile; bytes: Uint8Array; file: string } {
  const res = compileSource("maps.ts", SOURCE);
  if (!res.ok) throw new Error(formatDiagnostics(res.diagnostics));
  const file = path.join(tmp, "maps.o");
  fs.writeFileSync(file, res.object!);
  return { obj: readObject(res.object!), bytes: res.object!, file };
}

/** Each map of DATASEC .maps as libbpf reads it: attribute -> number (type, max_entries) or pointee size. */
function mapDefs(obj: ObjectFile): Record<string, Record<string, string>> {
  const byId = new Map(obj.btf.map((t) => [t.id, t]));
  const strip = (id: number): BtfType => {
    let t = byId.get(id)!;
    while (["TYPEDEF", "CONST", "VOLATILE"].includes(t.kind)) t = byId.get(t.type!)!;
    return t;
  };
  const size = (t: BtfType): number => (t.kind === "ARRAY" ? (t.count ?? 0) * size(strip(t.elem!)) : t.kind === "PTR" ? 8 : t.size ?? 0);
  const ds = obj.btf.find((t) => t.kind === "DATASEC" && t.name === ".maps")!;
  const out: Record<string, Record<string, string>> = {};
  for (const v of ds.vars!) {
    const vt = byId.get(v.type)!;
    const st = strip(vt.type!);
    out[vt.name] = Object.fromEntries(
      st.members!.map((m) => {
        const p = strip(m.type);
        const to = strip(p.type!);
        return [m.name, to.kind === "ARRAY" && (m.name === "type" || m.name === "max_entries") ? `=${to.count}` : `${to.kind}:${size(to)}`];
      }),
    );
    // (Offsets are not compared: clang leaves DATASEC offsets 0 for libbpf to fill in from the symbols.)
    out[vt.name].struct = `${st.name === "" ? "anonymous" : st.name} ${st.size} bytes`;
  }
  return out;
}

describe("the .maps section", () => {
  it("holds one anonymous struct per map, as clang lays out the same declarations", () => {
    const { obj } = compiled();
    const ours = mapDefs(obj);
    expect(ours).toEqual({
      inflight: { type: "=1", max_entries: "=64", key: "INT:8", value: "STRUCT:16", struct: "anonymous 32 bytes" },
      hist: { type: "=2", max_entries: "=32", key: "INT:4", value: "INT:8", struct: "anonymous 32 bytes" },
      events: { type: "=27", max_entries: "=8192", struct: "anonymous 16 bytes" },
    });
    const sec = obj.section(".maps")!;
    expect(sec.size).toBe(80);
    // Each map is a GLOBAL OBJECT symbol in .maps with its struct's size.
    const syms = obj.symbols.filter((s) => s.shndx === sec.index && s.type === 1).map((s) => [s.name, s.value, s.size, s.bind]);
    expect(syms).toEqual([["inflight", 0, 32, 1], ["hist", 32, 32, 1], ["events", 64, 16, 1]]);
  });

  it.skipIf(!has("clang"))("clang's object for the same C declarations has the same map definitions", () => {
    const c = path.join(tmp, "maps.c");
    fs.writeFileSync(c, C_SOURCE);
    const o = path.join(tmp, "clang-maps.o");
    execFileSync("clang", ["-O2", "-g", "-target", "bpf", "-c", c, "-o", o, `-I${path.join(sysroot, "usr", "include")}`, "-I/usr/include/x86_64-linux-gnu"]);
    expect(mapDefs(readObject(fs.readFileSync(o)))).toEqual(mapDefs(compiled().obj));
  });

  it("references each map with an ld_imm64 relocated (R_BPF_64_64) against the map's symbol, imm 0", () => {
    const { obj } = compiled();
    const code = obj.sections.find((s) => s.name === "struct_ops.s/p")!;
    const insns = obj.insns(code.name);
    const bySlot = new Map<number, (typeof insns)[number]>();
    let slot = 0;
    for (const i of insns) {
      bySlot.set(slot, i);
      slot += i.opcode === 0x18 ? 2 : 1;
    }
    const mapRelocs = obj.relocations.filter((r) => r.section === code.name && ["inflight", "hist", "events"].includes(r.symbol.name));
    expect(new Set(mapRelocs.map((r) => r.symbol.name))).toEqual(new Set(["inflight", "hist", "events"]));
    for (const r of mapRelocs) {
      expect(r.type).toBe(1);
      const insn = bySlot.get(r.offset / 8)!;
      expect([insn.opcode, insn.src, insn.imm]).toEqual([0x18, 0, 0]);
    }
  });

  it("names a ring buffer's record type in a hidden pointer global (the map definition cannot carry it)", () => {
    const { obj } = compiled();
    const byId = new Map(obj.btf.map((t) => [t.id, t]));
    const v = obj.btf.find((t) => t.kind === "VAR" && t.name === "uringbpf_rec_events")!;
    let t = byId.get(v.type!)!;
    while (t.kind === "CONST" || t.kind === "VOLATILE") t = byId.get(t.type!)!;
    expect(t.kind).toBe("PTR");
    const rec = byId.get(t.type!)!;
    expect([rec.kind, rec.name, rec.size, rec.members!.map((m) => m.name)]).toEqual(["STRUCT", "Event", 16, ["userData", "res", "flags"]]);
  });

  it.skipIf(!fs.existsSync(libbpfA) || !has("gcc"))("libbpf 1.4 opens the object and creates its maps' definitions by name and type", () => {
    const exe = path.join(tmp, "libbpf-open");
    execFileSync("gcc", ["-O1", "-o", exe, path.join(__dirname, "support", "libbpf-open.c"), `-I${path.join(sysroot, "usr", "include")}`, libbpfA, "-lelf", "-lz", "-lzstd"]);
    const r = spawnSync(exe, [compiled().file], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const m of [/^map inflight type=1 value_size=16$/m, /^map hist type=2 value_size=8$/m, /^map events type=27 value_size=0$/m]) expect(r.stdout).toMatch(m);
  });

  it.skipIf(!fs.existsSync(bpftool))("bpftool dumps the maps' BTF and puts them in a skeleton by name", () => {
    const env = { ...process.env, LD_LIBRARY_PATH: path.join(sysroot, "usr", "lib", "x86_64-linux-gnu") };
    const { file } = compiled();
    const btf = execFileSync(bpftool, ["btf", "dump", "file", file], { encoding: "utf8", env });
    expect(btf).toMatch(/DATASEC '\.maps' size=80 vlen=3/);
    expect(btf).toMatch(/VAR 'inflight' type_id=\d+, linkage=global/);
    const skel = execFileSync(bpftool, ["gen", "skeleton", file, "name", "m"], { encoding: "utf8", env });
    for (const m of ["inflight", "hist", "events"]) expect(skel).toContain(`struct bpf_map *${m};`);
  });
});

describe("map semantics in the interpreter (the kernel's, as test/lang.test.ts checks in the VM)", () => {
  const run = (file: string) => {
    const res = compileSource(file, fs.readFileSync(path.join(__dirname, "fixtures", "programs", file), "utf8"));
    if (!res.ok) throw new Error(formatDiagnostics(res.diagnostics));
    return runOnFakeRing(res, { mem: 4096, maxSteps: 100 });
  };

  it("hash maps: -E2BIG when full, -EEXIST for BPF_NOEXIST, -ENOENT for BPF_EXIST and for a second delete", () => {
    const r = run("maps-hash.ts");
    expect([r.get("inserted"), r.get("full"), r.get("dup"), r.get("missing"), r.get("deleted"), r.get("deletedAgain"), r.get("found")]).toEqual([4n, -7n, -17n, -2n, 0n, -2n, 70n]);
    expect((r.maps.reqs as { key: bigint }[]).map((e) => e.key)).toEqual([0n, 10n, 20n]);
  });

  it("array maps: all entries exist (BPF_NOEXIST fails with -EEXIST), an index out of range is -E2BIG and looks up null", () => {
    const r = run("maps-array.ts");
    expect([r.get("rAny"), r.get("rNoexist"), r.get("rExist"), r.get("rBig"), r.get("outOfRange")]).toEqual([0n, -17n, 0n, -7n, 5n]);
    expect(r.maps.counts).toEqual([5n, 15n, 25n, 35n, 45n, 55n, 65n, 1000n]);
  });

  it("ring buffers: 4096 bytes hold 170 records of 16 bytes (8-byte headers), then reserve is null and output -EAGAIN", () => {
    const r = run("maps-ringbuf.ts");
    expect([r.get("fullAt"), r.get("lastErr"), r.get("outputs") + r.get("submitted") + r.get("discarded")]).toEqual([170n, -11n, 170n]);
    // Discarded records take space but are not delivered.
    expect(r.maps.events).toHaveLength(Number(r.get("outputs") + r.get("submitted")));
  });
});

let haveAddon = true;
try {
  loadAddon();
} catch (e) {
  haveAddon = false;
  if (process.env.CI) throw e;
  console.warn(`skipping the userspace engine's map tests: ${(e as Error).message}`);
}

describe.skipIf(!haveAddon)("maps in the userspace engine on a real ring", () => {
  const compiled = (f: string) => {
    const res = compileSource(f, fs.readFileSync(path.join(root, f), "utf8"));
    if (!res.ok) throw new Error(formatDiagnostics(res.diagnostics));
    return res;
  };

  it("events: one record per NOP with the result it injected (IORING_NOP_INJECT_RESULT), in completion order", () => {
    const r = runUserEngine(compiled("samples/events.ts").object!, { set: ["requests=100"] });
    expect([r.ret, r.globals.status, r.globals.dropped]).toEqual([0, 0n, 0n]);
    const recs = r.maps!.events as { userData: bigint; res: bigint; seq: bigint }[];
    expect(recs.map((x) => Number(x.seq))).toEqual([...Array(100).keys()]);
    const injected = (i: number) => (i % 7 === 3 ? -((i % 13) + 1) : i * 3);
    expect(recs.filter((x) => Number(x.res) !== injected(Number(x.userData)))).toEqual([]);
  });

  it("latency: --map presets an entry; the histogram sums to the requests", () => {
    const r = runUserEngine(compiled("samples/latency.ts").object!, { set: ["requests=40", "baseUs=50"], map: ["hist[31]=1000"] });
    expect([r.ret, r.globals.status, r.globals.lost]).toEqual([0, 0n, 0n]);
    const hist = (r.maps!.hist as bigint[]).map(Number);
    expect(hist[31]).toBe(1000);
    expect(hist.slice(0, 31).reduce((a, b) => a + b, 0)).toBe(40);
    expect(r.maps!.inflight).toEqual([]);
  });

  it("refuses a preset of a map that does not exist, naming the maps", () => {
    expect(() => runUserEngine(compiled("samples/latency.ts").object!, { map: ["nope[1]=2"] })).toThrow(/no map named 'nope' \(maps: inflight, hist, fastest\)/);
  });
});
