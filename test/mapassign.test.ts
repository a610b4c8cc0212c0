// `--map NAME[KEY]PATH=VALUE` (docs/LANGUAGE.md "Maps") has one grammar in two languages: runtime/assign.ts
// (both engines' parser, and the kernel path's check before the loader starts) and the loader's C
// (runtime/loader/maps.h, which trusts no caller). One table drives both: each row is given to
// resolveMapAssign and to `uringbpf-loader --no-load --map ROW`, which prints what it resolved under
// "map_presets"; a valid row must give the table's key, value and mask bytes in both, a bad row must be
// refused by both with the row's message. Struct keys and values, every integer width, signed, bool,
// arrays, nested structs. The kernel side (the presets written into real maps) is in test/lang.test.ts.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileFile, formatDiagnostics } from "../compiler/index";
import { AssignError, resolveMapAssign, resolveMapAssigns } from "../runtime/assign";
import { loadImage } from "../runtime/engine/image";
import { runOnFakeRing } from "./support/fakering";

const root = path.join(__dirname, "..");
const loader = path.join(root, ".cache", "uringbpf", "bin", "uringbpf-loader");
if (!fs.existsSync(loader)) throw new Error("the loader is not built: run bash scripts/deps.sh build");
const src = path.join(__dirname, "fixtures", "mapassign", "presets.ts");
const compiled = compileFile(src);
if (!compiled.ok) throw new Error(formatDiagnostics(compiled.diagnostics));
const objFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-mapassign-")), "presets.o");
fs.writeFileSync(objFile, compiled.object!);
const img = loadImage(compiled.object!);

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** Little-endian bytes of `v` in `n` bytes, as hex. */
const le = (v: bigint, n: number) => hex(Uint8Array.from({ length: n }, (_, i) => Number((BigInt.asUintN(n * 8, v) >> BigInt(8 * i)) & 0xffn)));
const ff = (n: number) => "ff".repeat(n);
const zz = (n: number) => "00".repeat(n);

// Layouts (samples' BTF): Conn {port u16 @0, proto u8 @2, addr u32 @4} 8 bytes; Stats {bytes u64 @0,
// pkts u32 @8, delta i16 @12, up bool @14, hops u16[3] @16} 24 bytes; Shape {origin {x i32, y i32} @0,
// tag i8 @8} 12 bytes; byId's key i16; counts' key u32 (an array of 4), value u32.
const connKey = (port: number, proto: number, addr: number) => le(BigInt(port), 2) + le(BigInt(proto), 1) + "00" + le(BigInt(addr), 4);
type Row = { arg: string; key?: string; value?: string; mask?: string; error?: RegExp };
const ROWS: Row[] = [
  { arg: "counts[1]=7", key: le(1n, 4), value: le(7n, 4), mask: ff(4) },
  { arg: "counts[3]=4294967295", key: le(3n, 4), value: ff(4), mask: ff(4) },
  { arg: "counts[0]=0x10", key: le(0n, 4), value: le(16n, 4), mask: ff(4) },
  { arg: "counts[2]=010", key: le(2n, 4), value: le(10n, 4), mask: ff(4) },
  { arg: "counts[2]=-0", key: le(2n, 4), value: zz(4), mask: ff(4) },
  {
    arg: "conns[{port=80,proto=6,addr=0x7f000001}]={bytes=1000,pkts=2,delta=-5,up=true,hops[2]=9}",
    key: connKey(80, 6, 0x7f000001),
    value: le(1000n, 8) + le(2n, 4) + le(-5n, 2) + "01" + "00" + zz(4) + le(9n, 2) + zz(2),
    mask: ff(24),
  },
  { arg: "conns[{port=80,proto=6,addr=0x7f000001}].hops[1]=65535", key: connKey(80, 6, 0x7f000001), value: zz(18) + ff(2) + zz(4), mask: zz(18) + ff(2) + zz(4) },
  { arg: "conns[{}].up=false", key: zz(8), value: zz(24), mask: zz(14) + ff(1) + zz(9) },
  { arg: "conns[{addr=1,addr=2}].delta=-32768", key: connKey(0, 0, 2), value: zz(12) + le(-32768n, 2) + zz(10), mask: zz(12) + ff(2) + zz(10) },
  { arg: "conns[{port=1}].hops={[0]=1,[2]=3}", key: connKey(1, 0, 0), value: zz(16) + le(1n, 2) + zz(2) + le(3n, 2) + zz(2), mask: zz(16) + ff(6) + zz(2) },
  { arg: "conns[{port=1}].bytes=18446744073709551615", key: connKey(1, 0, 0), value: ff(8) + zz(16), mask: ff(8) + zz(16) },
  { arg: "byId[-3]={origin.x=-7,tag=-128}", key: le(-3n, 2), value: le(-7n, 4) + zz(4) + le(-128n, 1) + zz(3), mask: ff(12) },
  { arg: "byId[-3].origin={x=1,y=2}", key: le(-3n, 2), value: le(1n, 4) + le(2n, 4) + zz(4), mask: ff(8) + zz(4) },
  { arg: "byId[32767].tag=127", key: le(32767n, 2), value: zz(8) + "7f" + zz(3), mask: zz(8) + "ff" + zz(3) },
  { arg: "byId[0x7fff].origin.x=2147483647", key: le(32767n, 2), value: le(2147483647n, 4) + zz(8), mask: ff(4) + zz(8) },
  { arg: "shapes[1].origin.y=-1", key: le(1n, 4), value: zz(4) + ff(4) + zz(4), mask: zz(4) + ff(4) + zz(4) },
  { arg: "shapes[0]={}", key: le(0n, 4), value: zz(12), mask: ff(12) },
  // Refused, by both, with these words.
  { arg: "counts[4]=1", error: /index 4 out of range/ },
  { arg: "counts[1]=4294967296", error: /out of range.*u32/ },
  { arg: "counts[-1]=1", error: /out of range.*key/ },
  { arg: "byId[32768].tag=1", error: /out of range.*i16/ },
  { arg: "byId[-3].tag=128", error: /out of range.*i8/ },
  { arg: "conns[{port=65536}].pkts=1", error: /out of range.*port/ },
  { arg: "conns[{port=1}].up=2", error: /out of range.*0\.\.1 or true\/false/ },
  { arg: "conns[{nope=1}].pkts=1", error: /no field 'nope'/ },
  { arg: "conns[{port=1}].nope=1", error: /no field 'nope'/ },
  { arg: "counts[1].x=1", error: /no field 'x'/ },
  { arg: "conns[{port=1}]=5", error: /struct/ },
  { arg: "conns[5].pkts=1", error: /key of conns is a struct/ },
  { arg: "conns[{port=1}].hops=1", error: /an array/ },
  { arg: "byId[-3].origin[0]=1", error: /not an array/ },
  { arg: "counts[1]={}", error: /is an integer: give a number/ },
  { arg: "conns[{port=1}].pkts={x=1}", error: /is an integer: give a number/ },
  { arg: "conns[{port=1,}].pkts=1", error: /expected PATH=VALUE/ },
  { arg: "conns[{port}].pkts=1", error: /expected PATH=VALUE/ },
  { arg: "conns[{port=1}].bytes=18446744073709551616", error: /bad value/ },
  { arg: "counts[1]=x", error: /bad value/ },
  { arg: "counts[1]=", error: /bad value/ },
  { arg: "counts[0x]=1", error: /bad value/ },
  { arg: "shapes[1].origin.x=1.5", error: /bad value/ },
  { arg: "counts[1]", error: /expected NAME\[KEY\]=VALUE/ },
  { arg: "counts=1", error: /expected NAME\[KEY\]=VALUE/ },
  { arg: "counts[ 1]=2", error: /bad value/ },
  { arg: "counts[1]=0X10", error: /bad value/ },
  { arg: "counts[1]=+5", error: /bad value/ },
  { arg: "counts[1]=1=2", error: /bad value/ },
  { arg: "byId[-3]={origin={x=1}}", error: /not an integer field|bad value/ },
  { arg: "byId[-3]={tag=1}x", error: /expected \{field=VALUE,...\}|bad value/ },
  { arg: "conns[{port=1}x].pkts=1", error: /expected NAME\[KEY\]=VALUE/ },
  { arg: "conns[{port=1}].pkts..x=1", error: /bad path|no field ''/ },
  { arg: "1counts[1]=1", error: /expected NAME\[KEY\]=VALUE/ },
  { arg: "nosuch[1]=1", error: /no map named 'nosuch' \(maps: conns, byId, counts, shapes\)/ },
];

/** The C side: the loader opens the object without loading it and prints the resolved preset. */
function loaderResolve(arg: string): { preset?: { map: string; key: string; value: string; mask: string }; error?: string; status: number | null } {
  const r = spawnSync(loader, [objFile, "--no-load", "--map", arg], { encoding: "utf8", timeout: 60_000 });
  const line = r.stdout.split("\n").reverse().find((l) => l.startsWith("{"));
  const j = line ? JSON.parse(line) : {};
  return { preset: j.map_presets?.[0], error: j.error, status: r.status };
}

function tsResolve(arg: string): { preset?: { map: string; key: string; value: string; mask: string }; error?: string } {
  try {
    const p = resolveMapAssign(img, arg);
    return { preset: { map: p.map, key: hex(p.key), value: hex(p.value), mask: hex(p.mask) } };
  } catch (e) {
    if (!(e instanceof AssignError)) throw e;
    return { error: e.message };
  }
}

describe("--map: one table through runtime/assign.ts and the loader's C parser", () => {
  for (const row of ROWS) {
    const map = /^[A-Za-z_$][\w$]*/.exec(row.arg)?.[0];
    if (row.error) {
      it(`refuses ${row.arg}`, () => {
        const ts = tsResolve(row.arg);
        const c = loaderResolve(row.arg);
        expect([ts.preset, ts.error]).toEqual([undefined, expect.stringMatching(row.error!)]);
        expect(ts.error!.startsWith(`--map ${row.arg}: `)).toBe(true);
        expect([c.status, c.preset, c.error]).toEqual([5, undefined, expect.stringMatching(row.error!)]);
        expect(c.error!.startsWith(`--map ${row.arg}: `)).toBe(true);
      });
    } else {
      it(`resolves ${row.arg}`, () => {
        const want = { map, key: row.key, value: row.value, mask: row.mask };
        expect(tsResolve(row.arg)).toEqual({ preset: want });
        const c = loaderResolve(row.arg);
        expect([c.status, c.error, c.preset]).toEqual([0, undefined, want]);
      });
    }
  }

  it("several presets apply in order in the engine: a whole value, then one field of it", () => {
    const sim = runOnFakeRing(compiled, {
      maps: ["conns[{port=80,proto=6,addr=0x7f000001}]={bytes=1000,pkts=2,delta=-5,up=true,hops[2]=9}", "conns[{port=80,proto=6,addr=0x7f000001}].hops[2]=11", "byId[-3]={origin.x=-7,tag=-128}", "counts[1]=21"],
      maxSteps: 10,
    });
    expect([sim.get("status"), sim.get("seenBytes"), sim.get("seenHop"), sim.get("seenDelta"), sim.get("seenUp"), sim.get("seenX"), sim.get("seenTag")]).toEqual([0n, 1000n, 11n, -5n, 1n, -7n, -128n]);
    const conns = sim.maps.conns as { key: unknown; value: { pkts: bigint; hops: bigint[] } }[];
    expect(conns.map((e) => [e.value.pkts, e.value.hops])).toEqual([[3n, [0n, 0n, 11n]]]);
    expect((sim.maps.counts as bigint[])[1]).toBe(42n);
  });

  it("a preset that would overfill a hash map is refused before the run, as the kernel refuses it (-E2BIG)", () => {
    const maps = [1, 2, 3, 4, 5].map((i) => `conns[{port=${i}}].pkts=1`);
    expect(() => resolveMapAssigns(img, maps)).toThrow(new AssignError("--map conns[{port=5}].pkts=1: the map is full (4 entries)"));
    expect(() => runOnFakeRing(compiled, { maps, maxSteps: 10 })).toThrow(/--map conns\[\{port=5\}\]\.pkts=1: the map is full \(4 entries\)/);
    // The same key twice is one entry; an array map never fills.
    const again = [...maps.slice(0, 4), "conns[{port=1}].bytes=2", "counts[0]=1", "counts[1]=1", "counts[2]=1", "counts[3]=1", "counts[0]=2"];
    expect(resolveMapAssigns(img, again).map((p) => p.map)).toEqual([...Array(5).fill("conns"), ...Array(5).fill("counts")]);
  });
});
