// A simulated io_uring for host-side tests of compiled programs: SQ and CQ memory laid out as the kernel
// does (CQ indices and CQEs at the offsets io_uring_setup reports), NOP/READ/WRITE completed synchronously
// against in-memory files, and a driver that calls loop_step the way io_uring/loop.c does.
import type { CompileResult } from "../../compiler/index";
import { Memory, run, type Region } from "../../runtime/engine/interp";
import { baseHelpers } from "../../runtime/engine/helpers";
import { iterKfuncs } from "../../runtime/engine/iter";
import { loadImage } from "../../runtime/engine/image";
import { EngineMaps, imageMapSpecs, imageValueField } from "../../runtime/engine/maps";

export interface FakeRingOptions {
  sqEntries?: number;
  cqEntries?: number;
  /** In-memory files by descriptor. */
  files?: Map<number, { data: Uint8Array; size: number }>;
  /** Extra regions (buffers) by global name: the global receives the region's address. */
  buffers?: Record<string, number>;
  /** Values for user globals, set before the run (like the loader's --set). */
  set?: Record<string, bigint | number>;
  maxSteps?: number;
  /** Size of a MEM region (region 0) to provide. */
  mem?: number;
  /** Map presets, like the loader's --map NAME[KEY]=VALUE. */
  maps?: string[];
  /** Fill the MEM region before the run (like the loader's --mem). */
  memInit?: (bytes: Uint8Array) => void;
}

export function runOnFakeRing(res: CompileResult, opts: FakeRingOptions = {}) {
  if (!res.ok || !res.module) throw new Error("program did not compile");
  const mod = res.module;
  const sqEntries = opts.sqEntries ?? 8;
  const cqEntries = opts.cqEntries ?? 16;
  const CQ_HEAD = 64, CQ_TAIL = 68, CQES = 128;
  const mem = new Memory();
  const sq = mem.map("SQ region", new Uint8Array(sqEntries * 64));
  const cq = mem.map("CQ region", new Uint8Array(CQES + cqEntries * 16));
  const lp = mem.map("iou_loop_params", new Uint8Array(4));
  const memRegion = opts.mem ? mem.map("MEM region", new Uint8Array(opts.mem)) : undefined;
  if (memRegion && opts.memInit) opts.memInit(memRegion.bytes);
  const ctxObj = mem.map("io_ring_ctx", new Uint8Array(0), false);
  const ctxArr = mem.map("ctx", new Uint8Array(16), false);
  const w64 = (r: Region, off: number, v: bigint) => new DataView(r.bytes.buffer).setBigUint64(off, v, true);
  w64(ctxArr, 0, ctxObj.base);
  w64(ctxArr, 8, lp.base);
  const sections: Record<string, Region> = {};
  for (const name of [".rodata", ".bss", ".data"]) {
    const gs = mod.globals.filter((g) => g.section === name);
    const size = Math.max(1, ...gs.map((g) => g.offset + g.size));
    sections[name] = mem.map(name, new Uint8Array(size), name !== ".rodata");
    for (const g of gs) if (g.init) sections[name].bytes.set(g.init, g.offset);
  }
  const globalOf = (n: string) => {
    const g = mod.globals.find((x) => x.name === n);
    if (!g) throw new Error(`no global ${n}`);
    return g;
  };
  const setGlobal = (n: string, v: bigint) => {
    const g = globalOf(n);
    const dv = new DataView(sections[g.section].bytes.buffer);
    if (g.size === 8) dv.setBigUint64(g.offset, BigInt.asUintN(64, v), true);
    else if (g.size === 4) dv.setUint32(g.offset, Number(BigInt.asUintN(32, v)), true);
    else if (g.size === 2) dv.setUint16(g.offset, Number(BigInt.asUintN(16, v)), true);
    else dv.setUint8(g.offset, Number(BigInt.asUintN(8, v)));
  };
  const getGlobal = (n: string): bigint => {
    const g = globalOf(n);
    const dv = new DataView(sections[g.section].bytes.buffer);
    const raw = g.size === 8 ? dv.getBigUint64(g.offset, true) : BigInt(g.size === 4 ? dv.getUint32(g.offset, true) : g.size === 2 ? dv.getUint16(g.offset, true) : dv.getUint8(g.offset));
    const t = g.type.kind === "const" ? (g.type.to as { to: { signed?: boolean } }).to : (g.type as { signed?: boolean });
    return t.signed ? BigInt.asIntN(g.size * 8, raw) : raw;
  };
  const geometry: Record<string, number> = {
    uringbpf_sq_entries: sqEntries, uringbpf_cq_entries: cqEntries, uringbpf_cq_head: CQ_HEAD, uringbpf_cq_tail: CQ_TAIL,
    uringbpf_cq_cqes: CQES, uringbpf_cq_size: cq.bytes.length, uringbpf_sq_size: sq.bytes.length, uringbpf_mem_size: opts.mem ?? 0,
  };
  for (const [k, v] of Object.entries(geometry)) if (mod.globals.some((g) => g.name === k)) setGlobal(k, BigInt(v));
  if (memRegion && mod.globals.some((g) => g.name === "uringbpf_mem_uaddr")) setGlobal("uringbpf_mem_uaddr", memRegion.base);
  const buffers: Record<string, Region> = {};
  for (const [k, size] of Object.entries(opts.buffers ?? {})) {
    buffers[k] = mem.map(`buffer ${k}`, new Uint8Array(size));
    setGlobal(k, buffers[k].base);
  }
  for (const [k, v] of Object.entries(opts.set ?? {})) setGlobal(k, BigInt(v));

  const cqv = new DataView(cq.bytes.buffer);
  const sqv = new DataView(sq.bytes.buffer);
  let posted = 0;
  const post = (userData: bigint, res: number, fromTimer = false) => {
    const tail = cqv.getUint32(CQ_TAIL, true);
    const head = cqv.getUint32(CQ_HEAD, true);
    if (tail - head >= cqEntries) throw new Error("CQ overflow");
    const off = CQES + (tail & (cqEntries - 1)) * 16;
    cqv.setBigUint64(off, userData, true);
    cqv.setInt32(off + 8, res, true);
    cqv.setUint32(off + 12, 0, true);
    cqv.setUint32(CQ_TAIL, (tail + 1) >>> 0, true);
    posted++;
    if (!fromTimer) fireCounted();
  };
  const files = opts.files ?? new Map();
  // Timeouts: a virtual clock (ns) that jumps to the next deadline when the program waits for more
  // completions than have arrived; a timeout with a count completes with 0 after that many other CQEs.
  let now = 0n;
  // Completions of timeouts do not count towards other timeouts' counts (as in io_uring). A request
  // linked after a timeout runs when it fires (with IORING_TIMEOUT_ETIME_SUCCESS), else is cancelled.
  const timers: { deadline: bigint; ud: bigint; count: number; etimeOk: boolean; linked?: bigint }[] = [];
  const fireCounted = () => {
    for (let k = timers.length - 1; k >= 0; k--) {
      const t = timers[k];
      if (t.count > 0 && --t.count === 0) {
        timers.splice(k, 1);
        post(t.ud, 0, true);
      }
    }
  };
  const submit = (n: number): number => {
    for (let i = 0; i < n; i++) {
      const o = i * 64;
      const opcode = sqv.getUint8(o);
      const fd = sqv.getInt32(o + 4, true);
      const off = Number(sqv.getBigUint64(o + 8, true));
      const addr = sqv.getBigUint64(o + 16, true);
      const len = sqv.getUint32(o + 24, true);
      const ud = sqv.getBigUint64(o + 32, true);
      const flags = sqv.getUint8(o + 1);
      const opFlags = sqv.getUint32(o + 28, true);
      const prev = i > 0 && sqv.getUint8((i - 1) * 64 + 1) & 4 ? timers.find((t) => t.ud === sqv.getBigUint64((i - 1) * 64 + 32, true) && t.linked === undefined) : undefined;
      if (prev && opcode === 0) {
        prev.linked = ud; // a NOP linked after a pending timeout
        continue;
      }
      void flags;
      if (opcode === 0) post(ud, 0);
      else if (opcode === 3) post(ud, files.has(fd) ? 0 : -9);
      else if (opcode === 11) {
        const sec = mem.read(addr, 8);
        const nsec = mem.read(addr + 8n, 8);
        if (typeof sec === "string" || typeof nsec === "string") post(ud, -14);
        else timers.push({ deadline: now + sec * 1_000_000_000n + nsec, ud, count: off, etimeOk: (opFlags & 32) !== 0 });
      }
      else if (opcode === 22 || opcode === 23) {
        const f = files.get(fd);
        const place = mem.resolve(addr, len, opcode === 22);
        if (!f) post(ud, -9);
        else if (typeof place === "string") post(ud, -14);
        else if (opcode === 22) {
          const m = Math.max(0, Math.min(len, f.size - off));
          place.r.bytes.set(f.data.subarray(off, off + m), place.off);
          post(ud, m);
        } else {
          if (off + len > f.data.length) {
            const bigger = new Uint8Array(Math.max(off + len, f.data.length * 2));
            bigger.set(f.data);
            f.data = bigger;
          }
          f.data.set(place.r.bytes.subarray(place.off, place.off + len), off);
          f.size = Math.max(f.size, off + len);
          post(ud, len);
        }
      } else post(ud, -22);
    }
    return n;
  };
  const kfuncs = {
    ...iterKfuncs,
    bpf_io_uring_submit_sqes: (a: bigint[]) => BigInt(submit(Number(a[1] & 0xffffffffn))),
    bpf_io_uring_get_region: (a: bigint[]) => {
      const id = Number(a[1] & 0xffffffffn);
      const want = Number(a[2]);
      const r = id === 2 ? sq : id === 1 ? cq : id === 0 ? memRegion : undefined;
      if (!r || want > r.bytes.length) return 0n;
      return r.base;
    },
  };
  const rodata = sections[".rodata"];
  const maps = new EngineMaps(res.object ? imageMapSpecs(loadImage(res.object)) : [], mem);
  for (const p of opts.maps ?? []) maps.preset(p, (m, path) => imageValueField(loadImage(res.object!), m.spec.name, path));
  const globalAddress = (symbol: string, addend: bigint) => {
    const map = maps.address(symbol);
    if (map !== undefined) return map + addend;
    const g = globalOf(symbol);
    return sections[g.section].base + BigInt(g.offset) + addend;
  };
  const prog = res.programs[0];
  const traceLines: string[] = [];
  let steps = 0;
  let executed = 0;
  let ret = 0n;
  const max = opts.maxSteps ?? 10_000_000;
  void rodata;
  for (;;) {
    if (++steps > max) throw new Error("too many loop steps");
    const subprograms = Object.fromEntries((res.subprograms ?? []).map((s) => [s.name, s.insns]));
    const r = run(prog.insns, ctxArr.base, mem, { globalAddress, kfuncs, subprograms, helpers: { ...baseHelpers(traceLines), ...maps.helpers() } });
    executed += r.executed;
    ret = BigInt.asIntN(32, r.r0);
    if (ret !== 0n) break;
    const waitIdx = new DataView(lp.bytes.buffer).getUint32(0, true);
    let tail = cqv.getUint32(CQ_TAIL, true);
    // Sleeping until waitIdx: let virtual time pass until it is reached or no timer is left.
    while (((waitIdx - tail) | 0) > 0 && timers.length) {
      timers.sort((a, b) => (a.deadline < b.deadline ? -1 : 1));
      const t = timers.shift()!;
      now = t.deadline > now ? t.deadline : now;
      post(t.ud, -62, true);
      if (t.linked !== undefined) post(t.linked, t.etimeOk ? 0 : -125);
      tail = cqv.getUint32(CQ_TAIL, true);
    }
    // Completions are synchronous here: if the program waits for more than can ever arrive, it would hang.
    if (((waitIdx - tail) | 0) > 0 && posted === 0) throw new Error(`loop waits for CQ index ${waitIdx} but nothing is in flight`);
    posted = 0;
  }
  return { ret, steps, executed, now, get: getGlobal, files, buffers, mem: memRegion?.bytes, trace: traceLines, maps: maps.dump() };
}
