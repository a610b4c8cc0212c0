// The userspace engine: runs a loop_step object's BPF code in the interpreter against a REAL io_uring ring
// (the Node-API addon, runtime/addon), the way io_uring/loop.c drives it in the kernel, on kernels without
// io_uring_bpf_ops and without root. The program sees the ring's own CQ memory (region 1).
//
// Submission (region 2, bpf_io_uring_submit_sqes(n) = "the first n SQEs"):
// - When the kernel accepts IORING_SETUP_SQ_REWIND (Linux 7.1+), region 2 IS the ring's SQE array and the
//   kfunc is io_uring_enter(fd, n, 0, 0): the kernel reads entries 0..n-1 and leaves head and tail at 0.
// - Otherwise (6.18 here: setup fails with EINVAL and the driver retries without it) the program writes a
//   shadow SQE array of the same size; the kfunc copies shadow entries 0..n-1 into the ring's slots
//   tail..tail+n-1 (mod entries), publishes tail + n and calls io_uring_enter(fd, n, 0, 0). With
//   NO_SQARRAY the kernel consumes exactly slots head..tail-1, and every SQE is consumed during that
//   enter (the SQ is empty again when it returns, head == tail), so the slots written never hold an SQE the
//   kernel has yet to read, and the program's view (entries from 0) is what SQ_REWIND gives it.
// Buffers and the MEM region are real memory mapped in the interpreter at their real addresses, so the
// kernel can read and write what the program points it at.

import * as fs from "fs";
import { Memory, run, type Region } from "./interp";
import { decodeValue, loadImage, resolveType, typeSize, type Image, type ImageGlobal } from "./image";
import { iterKfuncs } from "./iter";
import { baseHelpers } from "./helpers";
import { EngineMaps, imageMapSpecs, imageValueField } from "./maps";
import { loadEngineAddon } from "../addon/load";
import type { CompileResult } from "../../compiler/index";

const SETUP = { SINGLE_ISSUER: 1 << 12, DEFER_TASKRUN: 1 << 13, NO_SQARRAY: 1 << 16, CQSIZE: 1 << 3 };
const ENTER_GETEVENTS = 1;
/** Set once the kernel has rejected IORING_SETUP_SQ_REWIND: later runs go straight to the emulation. */
let sqRewindRejected = false;

/** The addon's interface (runtime/addon/uring.c). */
export interface Addon {
  setup(sq: number, cq: number, flags: number): {
    fd: number;
    sqEntries: number;
    cqEntries: number;
    sqOff: { head: number; tail: number; ringMask: number };
    cqOff: { head: number; tail: number; ringMask: number; cqes: number };
    flags: number;
    rings: ArrayBuffer;
    sqes: ArrayBuffer;
  };
  enter(fd: number, toSubmit: number, minComplete: number, flags: number): number;
  alloc(size: number): { buffer: ArrayBuffer; addr: bigint };
  free(addr: bigint): void;
  registerMemRegion(fd: number, addr: bigint, size: number): number;
  close(fd: number): void;
  constants: { SETUP_SQ_REWIND: number };
}

export interface EngineOptions {
  set?: string[];
  open?: string[];
  buffer?: string[];
  mem?: string[];
  /** `NAME[KEY]=VALUE` / `NAME[KEY].field=VALUE` map presets (the loader's --map). */
  map?: string[];
  memRegion?: number;
  sqEntries?: number;
  cqEntries?: number;
  prog?: string;
  /** Log each step's submitted SQEs and consumed CQEs (to `log`, default stderr). */
  trace?: boolean;
  /** Ask for IORING_SETUP_SQ_REWIND (default true; the driver falls back to emulating it). */
  sqRewind?: boolean;
  log?: (line: string) => void;
  /** Stop after this many loop_step calls (default 100 million). */
  maxSteps?: number;
  /** Abort one loop_step call after this many instructions (the interpreter's default otherwise). */
  maxInsns?: number;
  /** The ring implementation (default: the liburing addon). The fuzz harness passes a simulated ring. */
  addon?: Addon;
}

export interface EngineResult {
  prog: string;
  /** 0 when the program returned STOP, -22 when it returned something else. */
  ret: number;
  steps: number;
  runNs: number;
  insnsExecuted: number;
  /** How submissions reached the ring: the kernel's SQ_REWIND, or the driver's emulation of it. */
  submission: "sq_rewind" | "emulated";
  globals: Record<string, unknown>;
  mem?: unknown;
  /** Every map after the run, as the loader prints them (absent when the object has none). */
  maps?: Record<string, unknown[]>;
  trace: string[];
}

/** The engine addon: prebuilt in the package, built by scripts/deps.sh, or from source (runtime/addon/load.ts). */
export function loadAddon(): Addon {
  return loadEngineAddon() as unknown as Addon;
}

function parseAssign(s: string, what: string): [string, string] {
  const i = s.indexOf("=");
  if (i <= 0) throw new Error(`${what} needs NAME=VALUE, got '${s}'`);
  return [s.slice(0, i), s.slice(i + 1)];
}

/** Run a loop_step object (its ELF bytes, or compileFile's result) on a real ring in this process. */
export function runUserEngine(input: Uint8Array | CompileResult, opts: EngineOptions = {}): EngineResult {
  let object: Uint8Array;
  if (input instanceof Uint8Array) object = input;
  else if (input.ok && input.object) object = input.object;
  else throw new Error(`the program did not compile (${input.diagnostics?.length ?? 0} diagnostics)`);
  const img = loadImage(object);
  const progName = opts.prog ?? [...img.programs.keys()][0];
  const prog = img.programs.get(progName);
  if (!prog) throw new Error(`no program ${opts.prog ?? ""} in the object (programs: ${[...img.programs.keys()].join(", ") || "none"})`);
  const addon = opts.addon ?? loadAddon();
  const sqEntries = opts.sqEntries ?? 8;
  const cqEntries = opts.cqEntries ?? 2 * sqEntries;
  const base = SETUP.SINGLE_ISSUER | SETUP.DEFER_TASKRUN | SETUP.NO_SQARRAY | SETUP.CQSIZE;
  const rewind = addon.constants.SETUP_SQ_REWIND;
  let ring: ReturnType<Addon["setup"]> | undefined;
  let triedRewind = false;
  if (rewind && opts.sqRewind !== false && !sqRewindRejected) {
    try {
      ring = addon.setup(sqEntries, cqEntries, base | rewind);
    } catch (e) {
      // A kernel without SQ_REWIND rejects the unknown flag with EINVAL: emulate it (see the top).
      if (!/errno 22\)/.test((e as Error).message)) throw e;
      triedRewind = true;
    }
  }
  if (!ring) {
    ring = addon.setup(sqEntries, cqEntries, base);
    // Only SQ_REWIND made the first setup fail: remember that for this process.
    if (triedRewind) sqRewindRejected = true;
  }
  const allocated: bigint[] = [];
  try {
    return drive(img, progName, prog, addon, ring, opts, allocated);
  } finally {
    addon.close(ring.fd);
    for (const a of allocated) addon.free(a);
  }
}

function drive(img: Image, progName: string, prog: import("../../compiler/bpf/insn").Insn[], addon: Addon, ring: ReturnType<Addon["setup"]>, opts: EngineOptions, allocated: bigint[]): EngineResult {
  const mem = new Memory();
  const rings = new Uint8Array(ring.rings);
  const rv = new DataView(ring.rings);
  const sqes = new Uint8Array(ring.sqes);
  const cqSize = ring.cqOff.cqes + ring.cqEntries * 16;
  const cqRegion = mem.map("CQ region", rings.subarray(0, Math.min(cqSize, rings.length)));
  const kernelRewind = (ring.flags & addon.constants.SETUP_SQ_REWIND) !== 0 && addon.constants.SETUP_SQ_REWIND !== 0;
  const sqShadow = mem.map("SQ region", kernelRewind ? sqes.subarray(0, ring.sqEntries * 64) : new Uint8Array(ring.sqEntries * 64));
  const alloc = (size: number) => {
    const a = addon.alloc(size);
    allocated.push(a.addr);
    return a;
  };
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
    const a = alloc(memSize);
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
    if (!/^\d+$/.test(size) || Number(size) <= 0 || Number(size) > 1 << 30) throw new Error(`--buffer ${k}: size must be between 1 and 2^30 bytes (got '${size}')`);
    const a = alloc(Number(size));
    mem.mapAt(`buffer ${k}`, new Uint8Array(a.buffer), a.addr);
    setGlobal(k, a.addr, true);
  }
  for (const s of opts.mem ?? []) {
    const [p, v] = parseAssign(s, "--mem");
    if (!memRegion || !img.memLayout) throw new Error(`--mem ${p}: the program has no MEM-region layout`);
    setMemField(img, memRegion.bytes, p, BigInt(v));
  }

  // BTF-defined maps, with --map presets applied (the loader applies them after load, before the run).
  const maps = new EngineMaps(imageMapSpecs(img), mem);
  for (const p of opts.map ?? []) maps.preset(p, (m, path) => imageValueField(img, m.spec.name, path));
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
      // "The first n entries of region 2" (see the top of this file).
      const n = Number(a[1] & 0xffffffffn);
      if (n > ring.sqEntries) return BigInt.asUintN(64, -22n);
      if (opts.trace) {
        const sb = sqShadow.bytes;
        const d = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
        for (let i = 0; i < n; i++) {
          const o = i * 64;
          stepSubmitted.push(`sqe ${i}: opcode ${d.getUint8(o)} flags 0x${d.getUint8(o + 1).toString(16)} fd ${d.getInt32(o + 4, true)} off ${d.getBigUint64(o + 8, true)} addr 0x${d.getBigUint64(o + 16, true).toString(16)} len ${d.getUint32(o + 24, true)} user_data ${d.getBigUint64(o + 32, true)}`);
        }
      }
      if (kernelRewind) return BigInt.asUintN(64, BigInt(addon.enter(ring.fd, n, 0, 0)));
      const mask = rv.getUint32(ring.sqOff.ringMask, true);
      let tail = rv.getUint32(ring.sqOff.tail, true);
      for (let i = 0; i < n; i++, tail = (tail + 1) >>> 0) sqes.set(sqShadow.bytes.subarray(i * 64, i * 64 + 64), (tail & mask) * 64);
      rv.setUint32(ring.sqOff.tail, tail, true);
      const r = addon.enter(ring.fd, n, 0, 0);
      // Entries the kernel did not take (a submission error, -EBUSY, ...) are dropped, as with SQ_REWIND,
      // where the next call starts from entry 0 again: only this thread and this enter read the SQ.
      rv.setUint32(ring.sqOff.tail, rv.getUint32(ring.sqOff.head, true), true);
      return BigInt.asUintN(64, BigInt(r));
    },
  };
  const subprograms = Object.fromEntries(img.subprograms);
  const globalAddress = (symbol: string, addend: bigint) => {
    const map = maps.address(symbol);
    if (map !== undefined) return map + addend;
    if (symbol.startsWith("section:")) return sections.get(symbol.slice(8))!.base + addend;
    const g = byName.get(symbol);
    if (!g) throw new Error(`relocation against unknown global ${symbol}`);
    return sections.get(g.section)!.base + BigInt(g.offset) + addend;
  };
  const helpers = { ...baseHelpers(trace), ...maps.helpers() };
  const cqHead = () => rv.getUint32(ring.cqOff.head, true);
  const cqTail = () => rv.getUint32(ring.cqOff.tail, true);
  let steps = 0;
  let executed = 0;
  let ret = 0;
  const maxSteps = opts.maxSteps ?? 100_000_000;
  const t0 = process.hrtime.bigint();
  try {
    for (;;) {
      if (++steps > maxSteps) throw new Error(`loop_step called ${maxSteps} times without stopping`);
      const headBefore = cqHead();
      stepSubmitted = [];
      const r = run(prog, ctxArr.base, mem, { globalAddress, kfuncs, helpers, subprograms, maxInsns: opts.maxInsns });
      executed += r.executed;
      const r0 = Number(BigInt.asIntN(32, r.r0));
      if (opts.trace) {
        const consumed = (cqHead() - headBefore) >>> 0;
        log(`step ${steps}: returned ${r0 === 0 ? "CONTINUE" : r0 === 1 ? "STOP" : r0}, consumed ${consumed} CQE${consumed === 1 ? "" : "s"}, submitted ${stepSubmitted.length} SQE${stepSubmitted.length === 1 ? "" : "s"}`);
        // The CQEs between the head before and after the step (still in place unless more than cq_entries
        // completions arrived during the step).
        const mask = ring.cqEntries - 1;
        for (let i = 0; i < Math.min(consumed, ring.cqEntries); i++) {
          const o = ring.cqOff.cqes + ((headBefore + i) & mask) * 16;
          log(`  cqe: user_data ${rv.getBigUint64(o, true)} res ${rv.getInt32(o + 8, true)} flags 0x${rv.getUint32(o + 12, true).toString(16)}`);
        }
        for (const s of stepSubmitted) log(`  ${s}`);
      }
      if (r0 === 1) break;
      if (r0 !== 0) {
        ret = -22;
        break;
      }
      // Wait until the CQ tail reaches cq_wait_idx (running deferred task work either way), like loop.c.
      // io_uring_enter's min_complete counts from the CQ head (it waits for tail - head >= min), so the
      // target tail cq_wait_idx means min = cq_wait_idx - head; compared as a signed 32-bit distance
      // because the indices wrap. Already reached (<= 0): GETEVENTS with 0 only runs the task work.
      const want = new DataView(lp.bytes.buffer).getUint32(0, true);
      const min = ((want - cqTail()) | 0) > 0 ? (want - cqHead()) >>> 0 : 0;
      const e = addon.enter(ring.fd, 0, min, ENTER_GETEVENTS);
      if (e < 0 && e !== -4 /* EINTR */ && e !== -62 /* ETIME */) throw new Error(`io_uring_enter(GETEVENTS): errno ${-e}`);
    }
  } finally {
    for (const fd of opened) fs.closeSync(fd);
  }
  const runNs = Number(process.hrtime.bigint() - t0);
  const globals: Record<string, unknown> = {};
  for (const g of img.globals) globals[g.name] = decodeValue(img.btf, g.type, sections.get(g.section)!.bytes, g.offset);
  const memValue = memRegion && img.memLayout ? decodeValue(img.btf, img.memLayout.id, memRegion.bytes, 0) : undefined;
  return { prog: progName, ret, steps, runNs, insnsExecuted: executed, submission: kernelRewind ? "sq_rewind" : "emulated", globals, mem: memValue, maps: maps.byName.size ? maps.dump() : undefined, trace };
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
