// The one result contract of `uringbpf run`, whichever engine ran the program: the JSON line of `--json`
// (one schema), the readable summary, and the exit code. The kernel path (runtime/run.ts: the native
// loader on the host or in the VM) and the userspace engine (runtime/engine/driver.ts) each turn their
// outcome into a RunReport here; nothing else prints results.
//
// Exit codes: 0 the program ran and stopped with success (or, with --no-run, was set up);
// 1 the program failed: compile errors, an object that does not follow docs/OBJECT.md, a verifier
//   rejection, a run error (an out-of-bounds access, an invalid loop_step result), a failed run-time check;
// 2 usage or environment: a bad flag or value, an unknown --prog, the time limit (--timeout), a missing
//   loader, addon, kernel or VM.

import * as os from "os";
import type { EngineResult } from "../runtime/engine/driver";
import type { RunError, RunResult } from "../runtime/run";

export type Stage = "usage" | "compile" | "open" | "verify" | "setup" | "load" | "attach" | "run" | "trap" | "timeout" | "environment";

/** The JSON line of `uringbpf run --json` (docs/RUN.md). */
export interface RunReport {
  ok: boolean;
  engine: "kernel" | "user";
  /** host / vm: in a kernel with io_uring BPF ops; process: the userspace engine in this process. */
  where: "host" | "vm" | "process";
  /** The kernel release the ring lives in. */
  kernel?: string;
  /** True when the kernel verifier accepted the program (the kernel engine); false in the userspace engine. */
  verified: boolean;
  stage?: Stage;
  error?: string;
  diagnostics?: unknown[];
  prog?: string;
  /** loop_step was called (false with --no-run). */
  ran: boolean;
  /** 0 after STOP; negative: io_uring_enter's error (kernel) or -22 for an invalid loop_step result. */
  ret?: number;
  run_ns?: number;
  /** The program's globals after the run (the hidden uringbpf_* globals left out). */
  globals?: Record<string, unknown>;
  /** The MEM region through the program's layout. */
  mem?: unknown;
  /** Every map after the run (arrays as lists, hashes as key/value pairs, ring-buffer records in order). */
  maps?: Record<string, unknown>;
  /** A failed run-time check: the TypeScript line. */
  trap?: { line: number; kind: "loop" | "check"; file: string | null; source: string | null };
  /** trace() output, with --trace. */
  trace?: string[];
  /** Kernel engine: the verifier's statistics. */
  verifier?: Record<string, unknown>;
  /** Userspace engine: loop_step calls, BPF instructions executed, how SQEs reached the ring. */
  steps?: number;
  insns_executed?: number;
  submission?: string;
}

export interface Outcome {
  exit: 0 | 1 | 2;
  report: RunReport;
  /** Messages for stderr (the loader's, an error's). */
  messages?: string;
}

const EXIT_OF_STAGE: Record<Stage, 1 | 2> = { usage: 2, environment: 2, timeout: 2, setup: 2, attach: 2, compile: 1, open: 1, verify: 1, load: 1, run: 1, trap: 1 };

export function exitOfStage(stage: Stage): 1 | 2 {
  return EXIT_OF_STAGE[stage];
}

/** The hidden globals a loader fills in (docs/OBJECT.md); results leave them out. */
export function isHiddenGlobal(name: string): boolean {
  return name.startsWith("uringbpf_");
}

function userGlobals(g: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return g && Object.fromEntries(Object.entries(g).filter(([k]) => !isHiddenGlobal(k)));
}

/** A failure before either engine ran anything. */
export function failure(engine: RunReport["engine"], stage: Stage, error: string, extra: Partial<RunReport> = {}): Outcome {
  const where = engine === "user" ? "process" : "host";
  const kernel = engine === "user" ? os.release() : undefined;
  return { exit: exitOfStage(stage), report: { ok: false, engine, where, ...(kernel ? { kernel } : {}), verified: false, stage, error, ran: false, ...extra } };
}

/** A RunError of the kernel path. */
export function kernelError(e: RunError): Outcome {
  if (e.kind === "compile") return failure("kernel", "compile", "the program did not compile", { diagnostics: e.diagnostics });
  return failure("kernel", e.kind === "usage" ? "usage" : "environment", e.message);
}

/** Loader exit codes (runtime/loader/loader.c) to stages. */
const LOADER_STAGE: Record<number, Stage> = { 1: "usage", 2: "open", 3: "environment", 4: "load", 5: "setup", 6: "attach", 7: "run", 8: "trap" };

/** The kernel path's result. */
export function kernelOutcome(r: RunResult, timeoutSec: number): Outcome {
  const where = r.where;
  const rep = r.report;
  if (r.timedOut) {
    const o = failure("kernel", "timeout", `the run did not finish within ${timeoutSec} s (--timeout); the loader was stopped`, { where, kernel: r.kernel, verified: false, ran: true });
    return { ...o, messages: r.messages };
  }
  if (!rep) return { ...failure("kernel", "environment", `the loader printed no result (exit ${r.loaderExit})`, { where, kernel: r.kernel }), messages: r.messages };
  const stage: Stage | undefined = r.ok ? undefined : rep.stage === "trap" ? "trap" : (LOADER_STAGE[r.loaderExit] ?? (rep.stage as Stage | undefined) ?? "run");
  const loaded = rep.loaded !== false && (r.ok || stage === "run" || stage === "trap");
  const report: RunReport = {
    ok: r.ok,
    engine: "kernel",
    where,
    kernel: r.kernel,
    verified: loaded,
    ...(stage ? { stage, error: rep.error ?? `loader exit ${r.loaderExit}` } : {}),
    prog: rep.prog,
    ran: !!rep.ran && (r.ok || stage === "run" || stage === "trap"),
    ret: rep.ret,
    run_ns: rep.run_ns,
    globals: userGlobals(rep.globals),
    ...(rep.mem !== undefined ? { mem: rep.mem } : {}),
    ...(rep.maps !== undefined ? { maps: rep.maps as Record<string, unknown> } : {}),
    ...(rep.trap ? { trap: rep.trap as RunReport["trap"] } : {}),
    ...(Array.isArray(rep.trace) ? { trace: rep.trace as string[] } : rep.trace_error ? { trace: [], error: String(rep.trace_error) } : {}),
    ...(rep.verifier ? { verifier: rep.verifier } : {}),
  };
  return { exit: r.ok ? 0 : exitOfStage(stage!), report, messages: r.messages };
}

/** Why a trap stopped the program (the loader's message says the same). */
function trapWhy(kind: "loop" | "check" | undefined): string {
  return kind === "loop" ? "loop budget spent" : "run-time check failed";
}

/** The userspace engine's result. */
export function engineOutcome(r: EngineResult, trace: boolean): Outcome {
  const invalid = r.ret !== 0;
  const stage: Stage | undefined = r.trap ? "trap" : invalid ? "run" : undefined;
  const error = r.trap
    ? `program stopped at ${r.trap.file ?? "line"}:${r.trap.line}: ${r.trap.source ?? ""} (${trapWhy(r.trap.kind)})`
    : invalid
      ? `loop_step returned a value other than CONTINUE (0) or STOP (1): the kernel ends the run with -EINVAL`
      : undefined;
  const report: RunReport = {
    ok: !stage,
    engine: "user",
    where: "process",
    kernel: os.release(),
    verified: false,
    ...(stage ? { stage, error } : {}),
    prog: r.prog,
    ran: r.ran,
    ret: r.ret,
    run_ns: r.runNs,
    globals: userGlobals(r.globals),
    ...(r.mem !== undefined ? { mem: r.mem } : {}),
    ...(r.maps !== undefined ? { maps: r.maps } : {}),
    ...(r.trap ? { trap: r.trap } : {}),
    ...(trace ? { trace: r.trace } : {}),
    steps: r.steps,
    insns_executed: r.insnsExecuted,
    submission: r.submission,
  };
  return { exit: stage ? exitOfStage(stage) : 0, report };
}

/** JSON with bigints as numbers when exact, else as decimal strings (as the loader prints them). */
export function jsonSafe(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? (x >= -(1n << 53n) && x <= 1n << 53n ? Number(x) : x.toString()) : x));
}

/** The note the userspace engine prints once per run. */
export const UNVERIFIED_NOTE = "note: the userspace engine ran the program without the kernel verifier's check; run it with --vm (or on a kernel with io_uring BPF ops) for that";

/** The readable summary. */
export function formatReport(rep: RunReport): string {
  const lines: string[] = [];
  const where = rep.engine === "user" ? `userspace engine, host kernel ${rep.kernel ?? "?"}${rep.submission ? `, ${rep.submission === "sq_rewind" ? "SQ_REWIND" : "SQ_REWIND emulated"}` : ""}` : `${rep.where === "vm" ? "in the VM" : "on the host"}, kernel ${rep.kernel ?? "?"}`;
  const name = rep.prog ?? "program";
  if (!rep.ok && rep.stage !== "trap" && rep.stage !== "run") {
    lines.push(`${name}: failed at ${rep.stage}: ${rep.error ?? "?"} (${where})`);
    const rejected = (rep.verifier as { rejected_at?: string } | undefined)?.rejected_at;
    if (rejected) lines.push(`  rejected at ${rejected}`);
    return lines.join("\n");
  }
  const status = rep.ok ? (rep.ran ? "ok" : "ok, not run (--no-run)") : rep.stage === "trap" ? "stopped at a run-time check" : `run error: ${rep.error ?? "?"}`;
  lines.push(`${name}: ${status} (${where})`);
  const v = rep.verifier as { insns_processed?: number } | undefined;
  if (v?.insns_processed !== undefined) lines.push(`  verifier: ${v.insns_processed} instructions processed`);
  if (rep.ran && rep.run_ns !== undefined) {
    const extra = rep.steps !== undefined ? `, ${rep.steps} loop_step calls, ${rep.insns_executed} BPF instructions executed` : "";
    lines.push(`  run time: ${(rep.run_ns / 1e6).toFixed(3)} ms${extra}`);
  }
  const globals = Object.entries(rep.globals ?? {});
  if (globals.length) {
    lines.push("  globals:");
    const w = Math.max(...globals.map(([k]) => k.length));
    for (const [k, x] of globals) lines.push(`    ${k.padEnd(w)} = ${typeof x === "string" ? JSON.stringify(x) : jsonSafe(x)}`);
  }
  if (rep.mem && typeof rep.mem === "object") {
    // The MEM region through the program's layout; long arrays are shortened.
    const short = (x: unknown): string =>
      Array.isArray(x) ? `[${x.slice(0, 8).map(short).join(", ")}${x.length > 8 ? `, ... (${x.length})` : ""}]` : x && typeof x === "object" ? `{${Object.entries(x).map(([k, y]) => `${k}: ${short(y)}`).join(", ")}}` : jsonSafe(x);
    lines.push("  mem:");
    const entries = Object.entries(rep.mem as Record<string, unknown>);
    const w = Math.max(...entries.map(([k]) => k.length));
    for (const [k, x] of entries) lines.push(`    ${k.padEnd(w)} = ${short(x)}`);
  }
  if (rep.maps) for (const [k, x] of Object.entries(rep.maps)) lines.push(`  map ${k}: ${jsonSafe(x).slice(0, 2000)}`);
  if (rep.trap) lines.push(`  stopped at ${rep.trap.file ?? "line"}:${rep.trap.line}: ${rep.trap.source ?? ""} (${trapWhy(rep.trap.kind)})`);
  if (rep.trace !== undefined) lines.push("  trace:", ...(rep.trace.length ? rep.trace.map((l) => `    ${l.trim()}`) : ["    (empty)"]));
  return lines.join("\n");
}

/** Print an outcome as `uringbpf run` does (--json: the one JSON line). */
export function printOutcome(out: Outcome, json: boolean, io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) }): void {
  if (json) {
    io.out(jsonSafe(out.report) + "\n");
    if (out.exit !== 0 && out.messages?.trim()) io.err(out.messages.trimEnd() + "\n");
    return;
  }
  if (out.report.stage === "compile" && out.messages) {
    io.err(out.messages.trimEnd() + "\n");
    return;
  }
  if (out.exit !== 0 && out.messages?.trim()) io.err(out.messages.trimEnd() + "\n");
  (out.exit === 0 ? io.out : io.err)(formatReport(out.report) + "\n");
}
