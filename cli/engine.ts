// `uringbpf run --engine user`: the object's BPF code in the interpreter, driving a real io_uring ring in
// this process (runtime/engine/driver.ts): no root, no io_uring BPF ops, any kernel with io_uring.
// cli/run.ts calls runInEngine(file, flags) with its parsed options and exits with the code returned:
// 0 STOP with success, 1 the program failed (compile errors, run-time error in the BPF code, loop_step
// returned an invalid value), 2 environment or usage problems (addon not built, unreadable file, bad flag).

import * as fs from "fs";
import * as os from "os";
import { compileFile, formatDiagnostics } from "../compiler/index";
import { RingStateError, runUserEngine, TimeoutError, type EngineResult } from "../runtime/engine/driver";
import { VerifyError } from "../runtime/engine/verify";
import { ExecutionError } from "../runtime/engine/interp";

/** The options of `uringbpf run` that the engine uses (the names commander gives them). */
export interface EngineFlags {
  set?: string[];
  open?: string[];
  buffer?: string[];
  mem?: string[];
  map?: string[];
  memRegion?: number;
  sqEntries?: number;
  cqEntries?: number;
  prog?: string;
  /** Per step: the SQEs submitted and the CQEs consumed, on stderr; trace() output after the run. */
  trace?: boolean;
  json?: boolean;
  /** Time limit of the run in seconds (default 60): exit 2 when it passes. */
  timeout?: number;
  /** Submit SQEs the engine cannot check (runtime/engine/sqecheck.ts). */
  allowUncheckedSqes?: boolean;
}

/** Output streams (tests pass their own). */
export interface EngineIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: EngineIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** JSON with bigints as numbers when exact, else as decimal strings (as the loader prints them). */
export function jsonSafe(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? (x >= -(1n << 53n) && x <= 1n << 53n ? Number(x) : x.toString()) : x));
}

/** The one JSON line of `--json`. */
export function engineJson(r: EngineResult): string {
  return jsonSafe({
    ok: r.ret === 0,
    engine: "user",
    prog: r.prog,
    ret: r.ret,
    steps: r.steps,
    run_ns: r.runNs,
    insns_executed: r.insnsExecuted,
    submission: r.submission,
    kernel: os.release(),
    globals: r.globals,
    mem: r.mem,
    maps: r.maps,
    trace: r.trace,
  });
}

/** The readable summary (hidden uringbpf_* globals left out, a trap reported on its own line). */
export function engineSummary(r: EngineResult): string {
  const how = r.submission === "sq_rewind" ? "SQ_REWIND" : "SQ_REWIND emulated";
  const lines = [`${r.prog}: ${r.ret === 0 ? "ok" : `loop_step returned an invalid value (${r.ret})`} (userspace engine, host kernel ${os.release()}, ${how})`];
  lines.push(`  ${r.steps} loop_step calls, ${r.insnsExecuted} BPF instructions executed, ${(r.runNs / 1e6).toFixed(3)} ms`);
  const globals = Object.entries(r.globals).filter(([k]) => !k.startsWith("uringbpf_"));
  if (globals.length) {
    lines.push("  globals:");
    const w = Math.max(...globals.map(([k]) => k.length));
    for (const [k, v] of globals) lines.push(`    ${k.padEnd(w)} = ${jsonSafe(v)}`);
  }
  const trap = r.globals.uringbpf_trap;
  if (typeof trap === "bigint" && trap !== 0n) lines.push(`  a run-time check failed at line ${trap} of the source`);
  if (r.mem !== undefined) lines.push(`  mem: ${jsonSafe(r.mem).slice(0, 2000)}`);
  if (r.maps) for (const [name, v] of Object.entries(r.maps)) lines.push(`  map ${name}: ${jsonSafe(v).slice(0, 2000)}`);
  if (r.trace.length) lines.push("  trace:", ...r.trace.map((l) => `    ${l}`));
  return lines.join("\n");
}

/** Compile FILE.ts (or read FILE.o), run it in the engine, print the result; returns the exit code. */
export function runInEngine(file: string, o: EngineFlags, io: EngineIO = stdio): number {
  let object: Uint8Array;
  if (/\.o$/.test(file)) {
    try {
      object = fs.readFileSync(file);
    } catch (e) {
      io.err(`uringbpf run: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}\n`);
      return 2;
    }
  } else {
    const res = compileFile(file);
    if (!res.ok || !res.object) {
      if (o.json) io.out(JSON.stringify({ ok: false, stage: "compile", diagnostics: res.diagnostics }) + "\n");
      else io.err(formatDiagnostics(res.diagnostics) + "\n");
      return 1;
    }
    object = res.object;
  }
  let r: EngineResult;
  try {
    r = runUserEngine(object, {
      set: o.set,
      open: o.open,
      buffer: o.buffer,
      mem: o.mem,
      map: o.map,
      memRegion: o.memRegion,
      sqEntries: o.sqEntries,
      cqEntries: o.cqEntries,
      prog: o.prog,
      trace: o.trace,
      timeoutSec: o.timeout,
      allowUncheckedSqes: o.allowUncheckedSqes,
      log: (l) => io.err(l + "\n"),
    });
  } catch (e) {
    const err = e as Error;
    // The program's fault (exit 1): refused by the structural check, a failed run-time check or SQE
    // check, a ring state the guard refuses. A run past --timeout is exit 2, as in the kernel path.
    const stage = err instanceof VerifyError ? "verify" : err instanceof ExecutionError || err instanceof RingStateError ? "run" : err instanceof TimeoutError ? "timeout" : "setup";
    const program = stage === "verify" || stage === "run";
    if (o.json) io.out(jsonSafe({ ok: false, engine: "user", stage, error: err.message }) + "\n");
    else io.err(`uringbpf run (userspace engine): ${err.message}\n`);
    return program ? 1 : 2;
  }
  io.out((o.json ? engineJson(r) : engineSummary(r)) + "\n");
  return r.ret === 0 ? 0 : 1;
}
