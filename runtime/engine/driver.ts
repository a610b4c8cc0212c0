// The userspace engine: runs a loop_step object's BPF code in the interpreter against a REAL io_uring ring
// (the Node-API addon), the way io_uring/loop.c drives it in the kernel, on kernels without
// io_uring_bpf_ops and without root. The program sees the ring's own CQ memory; its SQEs go to a shadow
// array and bpf_io_uring_submit_sqes(n) copies entries 0..n-1 to the SQ tail and calls io_uring_enter,
// which is what IORING_SETUP_SQ_REWIND does in the kernel. Buffers and the MEM region are real memory
// mapped at their real addresses, so the kernel can read and write what the program points it at.

import * as fs from "fs";
import * as path from "path";
import { Memory, run, type Region } from "./interp";
import { decodeValue, loadImage, resolveType, typeSize, type Image, type ImageGlobal } from "./image";
import { iterKfuncs } from "./iter";
import { tracePrintk } from "./trace";

const SETUP = { SINGLE_ISSUER: 1 << 12, DEFER_TASKRUN: 1 << 13, NO_SQARRAY: 1 << 16, CQSIZE: 1 << 3 };
const ENTER_GETEVENTS = 1;

interface Addon {
  setup(sq: number, cq: number, flags: number): {
    fd: number;
    sqEntries: number;
    cqEntries: number;
    sqOff: { head: number; tail: number; ringMask: number };
    cqOff: { head: number; tail: number; ringMask: number; cqes: number };
    rings: ArrayBuffer;
    sqes: ArrayBuffer;
  };
  enter(fd: number, toSubmit: number, minComplete: number, flags: number): number;
  alloc(size: number): { buffer: ArrayBuffer; addr: bigint };
  registerMemRegion(fd: number, addr: bigint, size: number): number;
  close(fd: number): void;
}

export interface EngineOptions {
  set?: string[];
  open?: string[];
  buffer?: string[];
  mem?: string[];
  memRegion?: number;
  sqEntries?: number;
  cqEntries?: number;
  prog?: string;
  /** Log each step's submitted SQEs and consumed CQEs (to `log`). */
  trace?: boolean;
  log?: (line: string) => void;
  /** Stop after this many loop_step calls (default 100 million). */
  maxSteps?: number;
}

export interface EngineResult {
  prog: string;
  /** 0 when the program returned STOP, -22 when it returned something else. */
  ret: number;
  steps: number;
  runNs: number;
  insnsExecuted: number;
  globals: Record<string, unknown>;
  mem?: unknown;
  trace: string[];
}

/** The engine addon (built by scripts/deps.sh build into the cache's bin/). */
export function loadAddon(): Addon {
  const root = process.env.UBPF_CACHE ?? path.join(findRoot(), ".cache", "uringbpf");
  const file = path.join(root, "bin", "uring.node");
  if (!fs.existsSync(file)) throw new Error(`the userspace engine's addon is not built (${file}): run bash scripts/deps.sh build`);
  return require(file) as Addon;
}

function findRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json")) || !fs.existsSync(path.join(dir, "runtime"))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

function parseAssign(s: string, what: string): [string, string] {
  const i = s.indexOf("=");
  if (i <= 0) throw new Error(`${what} needs NAME=VALUE, got '${s}'`);
  return [s.slice(0, i), s.slice(i + 1)];
}

/** Run a loop_step object on a real ring in this process. */
export function runUserEngine(object: Uint8Array, opts: EngineOptions = {}): EngineResult {
  const img = loadImage(object);
  const progName = opts.prog ?? [...img.programs.keys()][0];
  const prog = img.programs.get(progName);
  if (!prog) throw new Error(`no program ${opts.prog ?? ""} in the object (programs: ${[...img.programs.keys()].join(", ") || "none"})`);
  const addon = loadAddon();
  const sqEntries = opts.sqEntries ?? 8;
  const ring = addon.setup(sqEntries, opts.cqEntries ?? 2 * sqEntries, SETUP.SINGLE_ISSUER | SETUP.DEFER_TASKRUN | SETUP.NO_SQARRAY | SETUP.CQSIZE);
  try {
    return drive(img, progName, prog, addon, ring, opts);
  } finally {
    addon.close(ring.fd);
  }
}

function drive(img: Image, progName: string, prog: import("../../compiler/bpf/insn").Insn[], addon: Addon, ring: ReturnType<Addon["setup"]>, opts: EngineOptions): EngineResult {
  const mem = new Memory();
  const rings = new Uint8Array(ring.rings);
  const rv = new DataView(ring.rings);
  const sqes = new Uint8Array(ring.sqes);
  const cqSize = ring.cqOff.cqes + ring.cqEntries * 16;
  const cqRegion = mem.map("CQ region", rings.subarray(0, Math.min(cqSize, rings.length)));
  const sqShadow = mem.map("SQ region", new Uint8Array(ring.sqEntries * 64));
  const lp = mem.map("iou_loop_params", new Uint8Array(4));
  const ctxObj = mem.map("io_ring_ctx", new Uint8Array(0), false);
  const ctxArr = mem.map("ctx", new Uint8Array(16), false);
  new DataView(ctxArr.bytes.buffer).setBigUint64(0, ctxObj.base, true);
  new DataView(ctxArr.bytes.buffer).setBigUint64(8, lp.base, true);

  // Globals: one region per data section, with the loader's settings applied.
  const sections = new Map<string, Region>();
  for (const [name, init] of img.sections) sections.set(name, mem.map(name, Uint8Array.from(init), !name.startsWith(".rodata")));
  const byName = new Map(img.globals.map((g) => [g.name, g]));
  const write = (g: ImageGlobal, v: bigint) => {
    const r = sections.get(g.section)!;
    let x = BigInt.asUintN(g.size * 8, v);
    for (let i = 0; i < g.size; i++, x >>= 8n) r.bytes[g.offset + i] = Number(x & 0xffn);
  };
  const setGlobal = (name: string, v: bigint, required: boolean) => {
    const g = byName.get(name);
    if (!g) {
      if (required) throw new Error(`no global named '${name}' (globals: ${img.globals.filter((x) => !x.name.startsWith("uringbpf_")).map((x) => x.name).join(", ")})`);
      return;
    }
    write(g, v);
  };
  // The MEM region: real memory, registered with the ring, at its real address.
  const memSize = opts.memRegion ?? (img.memLayout ? img.memLayout.size! : 0);
  let memRegion: Region | undefined;
  if (memSize > 0) {
    const a = addon.alloc(memSize);
    memRegion = mem.mapAt("MEM region", new Uint8Array(a.buffer, 0, memSize), a.addr);
    const r = addon.registerMemRegion(ring.fd, a.addr, a.buffer.byteLength);
    if (r < 0 && opts.log) opts.log(`engine: IORING_REGISTER_MEM_REGION failed (${r}); the region is still mapped for the program`);
    setGlobal("uringbpf_mem_uaddr", a.addr, false);
  }
  const geometry: Record<string, number> = {
    uringbpf_sq_entries: ring.sqEntries, uringbpf_cq_entries: ring.cqEntries, uringbpf_cq_head: ring.cqOff.head, uringbpf_cq_tail: ring.cqOff.tail,
    uringbpf_cq_cqes: ring.cqOff.cqes, uringbpf_cq_size: cqSize, uringbpf_sq_size: ring.sqEntries * 64, uringbpf_mem_size: memRegion ? memRegion.bytes.length : 0,
  };
  for (const [k, v] of Object.entries(geometry)) setGlobal(k, BigInt(v), false);
  const opened: number[] = [];
  for (const s of opts.set ?? []) {
    const [k, v] = parseAssign(s, "--set");
    setGlobal(k, BigInt(v), true);
  }
  for (const s of opts.open ?? []) {
    const [k, spec] = parseAssign(s, "--open");
    const m = /^(.*?)(?::(r|w|rw|a))?$/.exec(spec)!;
    const flags = { r: "r", w: "w", rw: "a+", a: "a" }[m[2] ?? "r"]!;
    const fd = fs.openSync(m[1], m[2] === "rw" ? fs.constants.O_RDWR | fs.constants.O_CREAT : flags);
    opened.push(fd);
    setGlobal(k, BigInt(fd), true);
  }
  for (const s of opts.buffer ?? []) {
    const [k, size] = parseAssign(s, "--buffer");
    const a = addon.alloc(Number(size));
    mem.mapAt(`buffer ${k}`, new Uint8Array(a.buffer), a.addr);
    setGlobal(k, a.addr, true);
  }
  for (const s of opts.mem ?? []) {
    const [p, v] = parseAssign(s, "--mem");
    if (!memRegion || !img.memLayout) throw new Error(`--mem ${p}: the program has no MEM-region layout`);
    setMemField(img, memRegion.bytes, p, BigInt(v));
  }

  const trace: string[] = [];
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  let stepSubmitted: string[] = [];
  const kfuncs = {
    ...iterKfuncs,
    bpf_io_uring_get_region: (a: bigint[]) => {
      const id = Number(a[1] & 0xffffffffn);
      const size = Number(a[2]);
      const r = id === 0 ? memRegion : id === 1 ? cqRegion : id === 2 ? sqShadow : undefined;
      return r && size <= r.bytes.length ? r.base : 0n;
    },
    bpf_io_uring_submit_sqes: (a: bigint[]) => {
      // SQ_REWIND: the first n entries of the (shadow) SQE array go to the ring at its tail.
      const n = Number(a[1] & 0xffffffffn);
      if (n > ring.sqEntries) return BigInt.asUintN(64, -22n);
      const mask = rv.getUint32(ring.sqOff.ringMask, true);
      let tail = rv.getUint32(ring.sqOff.tail, true);
      for (let i = 0; i < n; i++, tail = (tail + 1) >>> 0) {
        sqes.set(sqShadow.bytes.subarray(i * 64, i * 64 + 64), (tail & mask) * 64);
        if (opts.trace) {
          const d = new DataView(sqShadow.bytes.buffer, i * 64, 64);
          stepSubmitted.push(`op ${d.getUint8(0)} fd ${d.getInt32(4, true)} len ${d.getUint32(24, true)} off ${d.getBigUint64(8, true)} user_data ${d.getBigUint64(32, true)}`);
        }
      }
      rv.setUint32(ring.sqOff.tail, tail, true);
      const r = addon.enter(ring.fd, n, 0, 0);
      return BigInt.asUintN(64, BigInt(r));
    },
  };
  const subprograms = Object.fromEntries(img.subprograms);
  const globalAddress = (symbol: string, addend: bigint) => {
    if (symbol.startsWith("section:")) return sections.get(symbol.slice(8))!.base + addend;
    const g = byName.get(symbol);
    if (!g) throw new Error(`relocation against unknown global ${symbol}`);
    return sections.get(g.section)!.base + BigInt(g.offset) + addend;
  };
  const helpers = { 6: tracePrintk(trace) };
  const cqHead = () => rv.getUint32(ring.cqOff.head, true);
  const cqTail = () => rv.getUint32(ring.cqOff.tail, true);
  let steps = 0;
  let executed = 0;
  let ret = 0;
  const maxSteps = opts.maxSteps ?? 100_000_000;
  const t0 = process.hrtime.bigint();
  for (;;) {
    if (++steps > maxSteps) throw new Error(`loop_step called ${maxSteps} times without stopping`);
    const headBefore = cqHead();
    stepSubmitted = [];
    const r = run(prog, ctxArr.base, mem, { globalAddress, kfuncs, helpers, subprograms });
    executed += r.executed;
    const r0 = Number(BigInt.asIntN(32, r.r0));
    if (opts.trace) {
      const consumed = (cqHead() - headBefore) >>> 0;
      log(`step ${steps}: returned ${r0 === 0 ? "CONTINUE" : r0 === 1 ? "STOP" : r0}, consumed ${consumed} CQE${consumed === 1 ? "" : "s"}, submitted ${stepSubmitted.length}${stepSubmitted.length ? ":" : ""}`);
      for (const s of stepSubmitted) log(`  ${s}`);
    }
    if (r0 === 1) break;
    if (r0 !== 0) {
      ret = -22;
      break;
    }
    // Wait until the CQ tail reaches cq_wait_idx (running deferred task work either way), like loop.c.
    const want = new DataView(lp.bytes.buffer).getUint32(0, true);
    const missing = (want - cqTail()) | 0;
    const e = addon.enter(ring.fd, 0, missing > 0 ? missing : 0, ENTER_GETEVENTS);
    if (e < 0 && e !== -4 /* EINTR */ && e !== -62 /* ETIME */) throw new Error(`io_uring_enter(GETEVENTS): errno ${-e}`);
  }
  const runNs = Number(process.hrtime.bigint() - t0);
  for (const fd of opened) fs.closeSync(fd);
  const globals: Record<string, unknown> = {};
  for (const g of img.globals) globals[g.name] = decodeValue(img.btf, g.type, sections.get(g.section)!.bytes, g.offset);
  const memValue = memRegion && img.memLayout ? decodeValue(img.btf, img.memLayout.id, memRegion.bytes, 0) : undefined;
  return { prog: progName, ret, steps, runNs, insnsExecuted: executed, globals, mem: memValue, trace };
}

/** --mem PATH=VALUE through the layout (count, hdr.len, slots[3], reqs[1].opcode). */
function setMemField(img: Image, bytes: Uint8Array, pathText: string, v: bigint): void {
  let t = img.memLayout!;
  let off = 0;
  const parts = pathText.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  for (const part of parts) {
    if (part.startsWith("[")) {
      if (t.kind !== "ARRAY") throw new Error(`--mem ${pathText}: not an array before ${part}`);
      const i = Number(part.slice(1, -1));
      if (i >= t.count!) throw new Error(`--mem ${pathText}: index ${i} out of range (${t.count} elements)`);
      off += i * typeSize(img.btf, t.elem!);
      t = resolveType(img.btf, t.elem!)!;
    } else {
      const m = t.kind === "STRUCT" ? t.members!.find((x) => x.name === part) : undefined;
      if (!m) throw new Error(`--mem ${pathText}: no field '${part}'${t.kind === "STRUCT" ? ` (fields: ${t.members!.map((x) => x.name).join(", ")})` : ""}`);
      off += m.offset;
      t = resolveType(img.btf, m.type)!;
    }
  }
  if (t.kind !== "INT") throw new Error(`--mem ${pathText}: not an integer field`);
  let x = BigInt.asUintN(t.size! * 8, v);
  for (let i = 0; i < t.size!; i++, x >>= 8n) bytes[off + i] = Number(x & 0xffn);
}
