// The language for real programs (issue 11) in the real kernel: helpers, atomics and maps, and the samples
// built on them (spin, latency, events, counters), compiled on the host and run by uringbpf-loader in the
// 7.x kernel booted once under QEMU, results read back from the loader's JSON line (and bpftool). Skipped
// with a message when the kernel or QEMU is missing, except under CI, where their absence is a failure.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { compileFile, compileSource, formatDiagnostics } from "../compiler/index";
import { generateProgram } from "./support/progen";
import { runInVm, type VmCase, type VmFile, type VmRunResult } from "../runtime/vm/vm";
import { runOnFakeRing } from "./support/fakering";
import { jsonSafe } from "../cli/engine";
import { decodeValue, loadImage } from "../runtime/engine/image";
import { kernelTestsCanRun } from "./support/kernelgate";

const root = path.join(__dirname, "..");
const canRun = kernelTestsCanRun("the language's kernel tests");

/** The loader's JSON lines in a case's output. */
function jsonLines(output: string): Record<string, any>[] {
  return output.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}
function loaderJson(output: string): Record<string, any> {
  const all = jsonLines(output);
  if (!all.length) throw new Error(`no JSON line in:\n${output}`);
  return all[all.length - 1];
}

function build(file: string): Uint8Array {
  const res = compileFile(path.join(root, file));
  if (!res.ok || !res.object) throw new Error(formatDiagnostics(res.diagnostics));
  return res.object;
}

/** bpftool (bookworm-backports' 7.5, dynamically linked) and the shared libraries it needs, at the same
 *  paths in the guest, so `bpftool map dump` can read what the program left in its maps. */
const bpftool = path.join(root, ".cache", "uringbpf", "sysroot", "usr", "sbin", "bpftool");
if (process.env.CI && !fs.existsSync(bpftool)) throw new Error("bpftool is missing: run scripts/deps.sh build");
function bpftoolFiles(): VmFile[] {
  const libs = execFileSync("ldd", [bpftool], { encoding: "utf8" })
    .split("\n")
    .map((l) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(l)?.[1])
    .filter((x): x is string => !!x);
  return [{ guestPath: "/usr/local/bin/bpftool", hostPath: bpftool, mode: 0o755 }, ...libs.map((l) => ({ guestPath: l, hostPath: fs.realpathSync(l), mode: 0o755 }))];
}

const cases: VmCase[] = [];
const COUNTERS_N = 5000;
const ATOMIC_DIFF_N = Number(process.env.UBPF_ATOMIC_DIFF_N ?? 100);
const atomicExpect = new Map<string, Record<string, bigint>>();
const obj = (name: string, data: Uint8Array) => ({ guestPath: name, data });
function add(id: string, command: string, files: VmCase["files"] = [], timeoutSec = 300): void {
  cases.push({ id, command, files, timeoutSec });
}

/** The language's fixtures (helpers, atomics, maps): accepted by the verifier, equal to the interpreter. */
const LANG_FIXTURES = /^(helpers|atomics|maps)-/;
const fixtureExpect = new Map<string, Record<string, bigint>>();
/** The maps the interpreter ends with, as the loader prints them (JSON: bigints as numbers or strings). */
const fixtureMaps = new Map<string, unknown>();
/** The MEM region the interpreter ends with, decoded through the layout (fixtures that have one). */
const fixtureMem = new Map<string, unknown>();
let run: VmRunResult;
/** --map presets of struct keys and values, in order: a whole value, then one field of it. */
const MAP_PRESETS = [
  "conns[{port=80,proto=6,addr=0x7f000001}]={bytes=1000,pkts=2,delta=-5,up=true,hops[2]=9}",
  "conns[{port=80,proto=6,addr=0x7f000001}].hops[2]=11",
  "conns[{port=443,addr=0xffffffff}].bytes=18446744073709551615",
  "byId[-3]={origin.x=-7,tag=-128}",
  "byId[-3].origin.y=100",
  "counts[1]=21",
  "shapes[1].origin={x=5,y=-2147483648}",
];
/** What the interpreter ends with for MAP_PRESETS (globals and maps, as JSON). */
let presetEngine: any;

beforeAll(async () => {
  if (!canRun) return;
  const dir = path.join(__dirname, "fixtures", "programs");
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".ts") && LANG_FIXTURES.test(x)).sort()) {
    const res = compileFile(path.join(dir, f));
    if (!res.ok) throw new Error(`${f}: ${formatDiagnostics(res.diagnostics)}`);
    const sim = runOnFakeRing(res, { mem: 4096, maxSteps: 100 });
    const want: Record<string, bigint> = {};
    for (const g of res.module!.globals) if (!g.name.startsWith("uringbpf_") && g.type.kind !== "const") want[g.name] = sim.get(g.name);
    fixtureExpect.set(f, want);
    fixtureMaps.set(f, JSON.parse(jsonSafe(sim.maps)));
    // The MEM region through the program's layout, as the loader decodes it (atomics on MEM fields).
    const img = loadImage(res.object!);
    if (img.memLayout && sim.mem) fixtureMem.set(f, JSON.parse(jsonSafe(decodeValue(img.btf, img.memLayout.id, sim.mem, 0))));
    const o = f.replace(/\.ts$/, ".o");
    add(`fixture:${f}`, `uringbpf-loader ${o}`, [obj(o, res.object!)]);
  }
  // spin: a time budget, not a count. 1 s of budget finds 200 us timers by polling; 50 us of budget against
  // 2 ms timers polls for the budget and then sleeps, every time.
  add("spin", "uringbpf-loader spin.o --set spinNs=1000000000 --set requests=50 --set delayUs=200; " +
    "uringbpf-loader spin.o --set spinNs=50000 --set requests=20 --set delayUs=2000; " +
    "uringbpf-loader spin.o --set spinNs=0 --set requests=20 --set delayUs=200", [obj("spin.o", build("samples/spin.ts"))]);
  // latency: the histogram as the loader prints it and as bpftool dumps the pinned map.
  add("latency", "uringbpf-loader latency.o --set requests=200 --set depth=8 --set baseUs=100 --pin-maps /sys/fs/bpf/lat && " +
    "echo @@BPFTOOL && bpftool -j map dump pinned /sys/fs/bpf/lat/hist && echo && echo @@FASTEST && bpftool -j map dump pinned /sys/fs/bpf/lat/fastest && " +
    "echo && echo @@INFLIGHT && bpftool -j map dump pinned /sys/fs/bpf/lat/inflight && echo && echo @@SHOW && bpftool -j map show && echo && echo @@BTF && bpftool btf dump file latency.o",
    [obj("latency.o", build("samples/latency.ts")), ...bpftoolFiles()]);
  // A trap with a ring-buffer record outstanding: the trap exit discards it (test/fixtures/lang/ringbuf-trap.ts).
  const trapObj = build("test/fixtures/lang/ringbuf-trap.ts");
  add("ringbuf-trap", "uringbpf-loader rbtrap.o; echo @@BUDGET; uringbpf-loader rbtrap.o --set badStep=9 --set n=4000000000", [obj("rbtrap.o", trapObj)]);
  // events: every completion through the ring buffer.
  add("events", "uringbpf-loader events.o --set requests=300 --set depth=8", [obj("events.o", build("samples/events.ts"))]);
  // counters: a producer process shares the MEM region (--mem-file on tmpfs) with the program.
  const producer = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-lang-")), "counters-producer");
  execFileSync("gcc", ["-static", "-O2", "-Wall", "-o", producer, path.join(__dirname, "support", "counters-producer.c")]);
  add("counters", `rm -f /tmp/mem; counters-producer /tmp/mem ${COUNTERS_N} > /tmp/producer.json & uringbpf-loader counters.o --mem-file /tmp/mem; wait; cat /tmp/producer.json`,
    [obj("counters.o", build("samples/counters.ts")), { guestPath: "/usr/local/bin/counters-producer", hostPath: producer, mode: 0o755 }]);
  // --map with struct keys and values (test/mapassign.test.ts has the grammar): written into the kernel's
  // maps after load, read by the program, printed after the run; and a preset that overfills a hash map.
  const presets = compileFile(path.join(__dirname, "fixtures", "mapassign", "presets.ts"));
  if (!presets.ok) throw new Error(formatDiagnostics(presets.diagnostics));
  const sim = runOnFakeRing(presets, { maps: MAP_PRESETS, maxSteps: 10 });
  presetEngine = JSON.parse(jsonSafe({ globals: Object.fromEntries(["status", "seenBytes", "seenHop", "seenDelta", "seenUp", "seenX", "seenTag", "seenY"].map((g) => [g, sim.get(g)])), maps: sim.maps }));
  const q = (a: string) => `'${a}'`;
  add("map-presets", `uringbpf-loader presets.o ${MAP_PRESETS.map((m) => `--map ${q(m)}`).join(" ")}; ` +
    `uringbpf-loader presets.o ${[1, 2, 3, 4, 5].map((i) => `--map ${q(`conns[{port=${i}}].pkts=1`)}`).join(" ")}; echo "@@EXIT $?"`,
    [obj("presets.o", presets.object!)]);
  // Random programs with atomics on their result globals, against the reference evaluator.
  const diffFiles: VmFile[] = [];
  const diffCmds: string[] = [];
  for (let seed = 1; seed <= ATOMIC_DIFF_N; seed++) {
    const g = generateProgram(500_000 + seed, { atomics: true });
    const res = compileSource(`atomic${seed}.ts`, g.source, { typeCheck: false });
    if (!res.ok) throw new Error(`seed ${500_000 + seed}: ${formatDiagnostics(res.diagnostics)}`);
    // The same program without the atomics (the generator draws them last), for rejections.
    const plain = compileSource(`plain${seed}.ts`, generateProgram(500_000 + seed).source, { typeCheck: false });
    if (!plain.ok) throw new Error(`seed ${500_000 + seed}: ${formatDiagnostics(plain.diagnostics)}`);
    diffFiles.push(obj(`atomic/${seed}.o`, res.object!), obj(`plain/${seed}.o`, plain.object!));
    atomicExpect.set(String(seed), g.expected);
    diffCmds.push(`echo "@@SEED ${seed}"; uringbpf-loader atomic/${seed}.o 2>&1 | tail -1; uringbpf-loader plain/${seed}.o 2>&1 | tail -1`);
  }
  add("atomic-differential", diffCmds.join("\n"), diffFiles, 900);
  run = await runInVm(cases, { timeoutMs: 20 * 60_000 });
}, 25 * 60_000);

describe.skipIf(!canRun)("the language in the 7.x kernel", () => {
  const result = (id: string) => {
    const r = run.byId.get(id);
    if (!r) throw new Error(`case ${id} missing`);
    return r;
  };

  it("every helper, atomic and map fixture is accepted and ends with the interpreter's globals", () => {
    const problems: string[] = [];
    expect(fixtureExpect.size).toBeGreaterThanOrEqual(3);
    expect([...fixtureMem.keys()]).toEqual(expect.arrayContaining(["atomics-mem.ts", "atomics-every.ts"]));
    for (const [f, want] of fixtureExpect) {
      const r = result(`fixture:${f}`);
      if (r.exitCode !== 0) {
        problems.push(`${f}: exit ${r.exitCode}: ${r.output.slice(-800)}`);
        continue;
      }
      const j = loaderJson(r.output);
      for (const [k, v] of Object.entries(want)) {
        const got = typeof j.globals[k] === "boolean" ? BigInt(j.globals[k] ? 1 : 0) : BigInt(j.globals[k]);
        if (got !== v) problems.push(`${f}: ${k} = ${got}, the interpreter says ${v}`);
      }
      // The loader prints "maps" only when the object has some; the interpreter then has none.
      expect([f, j.maps ?? {}]).toEqual([f, fixtureMaps.get(f)]);
      expect([f, j.mem]).toEqual([f, fixtureMem.get(f)]);
    }
    expect(problems).toEqual([]);
  });

  it("latency: the histogram's buckets sum to the requests, never below a timer's duration, and bpftool sees the same numbers", () => {
    const out = result("latency").output;
    const j = loaderJson(out.split("@@BPFTOOL")[0]);
    expect([j.ok, j.globals.status, j.globals.completed, j.globals.lost]).toEqual([true, 0, 200, 0]);
    const hist: number[] = j.maps.hist;
    expect(hist).toHaveLength(32);
    expect(hist.reduce((a, b) => a + b, 0)).toBe(200);
    // 50 requests each of 100, 400, 1600 and 6400 us: a timeout never completes early, so bucket
    // floor(log2(d)) and above hold at least the requests of durations >= d.
    const atLeast = (us: number) => hist.slice(Math.floor(Math.log2(us))).reduce((a, b) => a + b, 0);
    expect([atLeast(100), atLeast(400), atLeast(1600), atLeast(6400)].map((n, k) => n >= 200 - 50 * k)).toEqual([true, true, true, true]);
    expect(j.maps.inflight).toEqual([]);
    const fastest: number[] = j.maps.fastest;
    expect(fastest.map((ns, k) => ns >= 100_000 * 4 ** k)).toEqual([true, true, true, true]);
    // bpftool: the pinned array holds the same 32 counts; the maps are known by name; BTF names them.
    const dump = JSON.parse(out.split("@@BPFTOOL")[1].split("@@FASTEST")[0]);
    expect(dump.map((e: any) => Number(e.formatted?.value ?? e.value))).toEqual(hist);
    // The other two maps too: bpftool's formatted values (through the maps' BTF) equal the run's JSON.
    const fastestDump = JSON.parse(out.split("@@FASTEST")[1].split("@@INFLIGHT")[0]);
    expect(fastestDump.map((e: any) => Number(e.formatted?.value ?? e.value))).toEqual(fastest);
    expect(JSON.parse(out.split("@@INFLIGHT")[1].split("@@SHOW")[0])).toEqual([]);
    const show = JSON.parse(out.split("@@SHOW")[1].split("@@BTF")[0]);
    expect(show.map((m: any) => m.name)).toEqual(expect.arrayContaining(["inflight", "hist", "fastest"]));
    const btf = out.split("@@BTF")[1];
    expect(btf).toMatch(/DATASEC '\.maps' size=\d+ vlen=3/);
    expect(btf).toMatch(/VAR 'hist' type_id=\d+, linkage=global/);
  });

  it("a trap (an index check, a loop's budget) discards the ring-buffer record outstanding: accepted, and the buffer keeps the finished steps' records", () => {
    const [check, budget] = result("ringbuf-trap").output.split("@@BUDGET");
    const j = loaderJson(check);
    expect([j.ok, j.stage, j.trap?.kind, j.trap?.source]).toEqual([false, "trap", "check", "t.vals[i] += 1;"]);
    expect(j.verifier.insns_processed).toBeGreaterThan(0);
    expect(j.maps.out).toEqual([{ step: 0, sum: 6 }, { step: 1, sum: 6 }]);
    expect(j.globals.steps).toBe(2);
    // The interpreter on the simulated ring stops at the same check with the same records.
    const sim = runOnFakeRing(compileFile(path.join(root, "test/fixtures/lang/ringbuf-trap.ts")), { mem: 4096, maxSteps: 100 });
    expect(JSON.parse(jsonSafe(sim.maps)).out).toEqual(j.maps.out);
    expect(sim.get("steps")).toBe(2n);
    const b = loaderJson(budget);
    expect([b.ok, b.stage, b.trap?.kind, b.trap?.source]).toEqual([false, "trap", "loop", "for (let k: u32 = 0; k < n; k++) {"]);
    expect(b.maps.out).toEqual([]);
  });

  it("events: the ring buffer holds one record per request, in completion order, with each request's result", () => {
    const j = loaderJson(result("events").output);
    expect([j.ok, j.globals.status, j.globals.completed, j.globals.dropped]).toEqual([true, 0, 300, 0]);
    const recs: { userData: number; res: number; flags: number; seq: number }[] = j.maps.events;
    expect(recs.map((r) => r.seq)).toEqual([...Array(300).keys()]);
    expect(recs.map((r) => r.userData).sort((a, b) => a - b)).toEqual([...Array(300).keys()]);
    const injected = (i: number) => (i % 7 === 3 ? -((i % 13) + 1) : i * 3);
    expect(recs.filter((r) => r.res !== injected(r.userData) || r.flags !== 0)).toEqual([]);
  });

  it("counters: the program and a userspace producer share the MEM region through acquire/release and atomics", () => {
    const out = result("counters").output;
    const lines = jsonLines(out);
    const loader = lines.find((l) => "globals" in l)!;
    const producer = lines.find((l) => "producer" in l)!.producer;
    const n = COUNTERS_N;
    expect([loader.ok, loader.globals.status]).toEqual([true, 0]);
    expect([loader.mem.produced, loader.mem.consumed, loader.mem.done]).toEqual([n, n, 1]);
    expect([loader.mem.items, loader.mem.total, loader.mem.shared]).toEqual([n, (n * (n + 1)) / 2, 2 * n]);
    expect(producer).toMatchObject({ n, consumed: n, items: n, total: (n * (n + 1)) / 2, shared: 2 * n });
    // The program saw the items in more than one batch, never more than the ring's 64 slots at once.
    expect(loader.globals.batches).toBeGreaterThan(1);
    expect(loader.globals.biggestBatch).toBeLessThanOrEqual(64);
  });

  it("--map presets struct keys and values in the kernel's maps: the program sees them; the maps equal the interpreter's", () => {
    const out = result("map-presets").output;
    const [j, full] = jsonLines(out);
    expect(j.ok, out).toBe(true);
    const g = j.globals;
    expect([g.status, g.seenBytes, g.seenHop, g.seenDelta, g.seenUp, g.seenX, g.seenTag, g.seenY]).toEqual([0, 1000, 11, -5, 1, -7, -128, -2147483648]);
    expect({ globals: Object.fromEntries(Object.keys(presetEngine.globals).map((k) => [k, g[k]])), maps: j.maps }).toEqual(presetEngine);
    // Sorted by key as little-endian numbers: port 80 (0x50) before port 443 (0x1bb).
    expect(j.maps.conns).toEqual([
      { key: { port: 80, proto: 6, addr: 0x7f000001 }, value: { bytes: 1000, pkts: 3, delta: -5, up: true, hops: [0, 0, 11] } },
      { key: { port: 443, proto: 0, addr: 0xffffffff }, value: { bytes: "18446744073709551615", pkts: 0, delta: 0, up: false, hops: [0, 0, 0] } },
    ]);
    expect(j.maps.byId).toEqual([{ key: -3, value: { origin: { x: -7, y: 101 }, tag: -128 } }]);
    expect(j.maps.counts).toEqual([0, 42, 0, 0]);
    // Five keys into a 4-entry hash map: the kernel's -E2BIG, reported before the run.
    expect([full.ok, full.stage, full.error]).toEqual([false, "maps", "--map conns[{port=5}].pkts=1: the map is full (4 entries)"]);
    expect(out).toMatch(/@@EXIT 5/);
  });

  it(`${ATOMIC_DIFF_N} random programs with atomics give the reference evaluator's results in the kernel`, () => {
    const parts = result("atomic-differential").output.split("@@SEED ").slice(1);
    expect(parts.length).toBe(ATOMIC_DIFF_N);
    const mismatches: string[] = [];
    let accepted = 0;
    for (const p of parts) {
      const seed = p.slice(0, p.indexOf("\n")).trim();
      const [j, plain] = jsonLines(p);
      // A program the verifier refuses for its loops (the generator's loop shapes, not the atomics) is
      // refused without its atomics too, for the same reason; every other one computes the evaluator's values.
      if (!j.ok) {
        if (plain.ok || plain.verifier?.error_line !== j.verifier?.error_line) mismatches.push(`seed ${seed}: refused with atomics only: ${JSON.stringify(j.verifier ?? j.error)}`);
        continue;
      }
      accepted++;
      for (const [k, v] of Object.entries(atomicExpect.get(seed)!)) if (BigInt(j.globals[k]) !== v) mismatches.push(`seed ${seed}: ${k} = ${j.globals[k]}, expected ${v}`);
    }
    expect(mismatches).toEqual([]);
    expect(accepted).toBeGreaterThanOrEqual(ATOMIC_DIFF_N * 0.9);
  });

  it("spin polls for its time budget, then sleeps", () => {
    const [long, short, none] = jsonLines(result("spin").output);
    for (const j of [long, short, none]) expect(j.globals.status).toBe(0);
    // A budget far above the timers: found by polling (a timer may fire before the first look).
    expect(long.globals.done).toBe(50);
    expect(long.globals.hits).toBeGreaterThanOrEqual(45);
    expect(long.globals.sleeps).toBeLessThanOrEqual(5);
    // A budget below the timers: every request polls for at least the budget, then sleeps once (under
    // TCG a 2 ms timer can fire before the program first looks: then it neither polls nor sleeps).
    expect(short.globals.done).toBe(20);
    expect(short.globals.hits).toBe(0);
    expect(short.globals.sleeps).toBeGreaterThanOrEqual(17);
    expect(short.globals.sleeps).toBeLessThanOrEqual(20);
    const perRequest = Number(short.globals.spunNs) / short.globals.sleeps;
    expect(perRequest).toBeGreaterThanOrEqual(50000);
    expect(perRequest).toBeLessThan(2_000_000);
    // No budget: no polling at all.
    expect([none.globals.busyChecks, none.globals.hits, Number(none.globals.spunNs)]).toEqual([0, 0, 0]);
  });
});
