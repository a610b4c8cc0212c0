// `uringbpf run --engine user`: the object's BPF code, translated to JavaScript, driving a real io_uring
// ring in this process (runtime/engine/driver.ts): no root, no io_uring BPF ops, any kernel with io_uring.
// cli/run.ts calls runInEngine(file, flags) with its parsed options and exits with the code returned; the
// result contract (JSON schema, summary, exit codes) is cli/report.ts, shared with the kernel path.

import * as fs from "fs";
import { compileFile } from "../compiler/index";
import { ObjectFormatError } from "../compiler/elf/reader";
import { AssignError } from "../runtime/assign";
import { RingStateError, runUserEngine, TimeoutError } from "../runtime/engine/driver";
import { geometryHint, ImageError, loadImage } from "../runtime/engine/image";
import { VerifyError } from "../runtime/engine/verify";
import { ExecutionError } from "../runtime/engine/interp";
import { engineOutcome, failure, jsonSafe, printOutcome, UNVERIFIED_NOTE, type Outcome } from "./report";
import { formatDiagnostics } from "../compiler/index";

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
  /** Per step: the SQEs submitted and the CQEs consumed, on stderr; trace() output in the result. */
  trace?: boolean;
  json?: boolean;
  /** Time limit in seconds (default 60). */
  timeout?: number;
  /** commander's --no-run: false means set up only. */
  run?: boolean;
  /** Run the reference interpreter instead of the translation. */
  interpreter?: boolean;
  /** Submit SQEs the engine cannot check (runtime/engine/sqecheck.ts). */
  allowUncheckedSqes?: boolean;
}

/** Output streams (tests pass their own). */
export interface EngineIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: EngineIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export { jsonSafe };

/** Compile FILE.ts (or read FILE.o) and run it in the engine: the outcome (nothing printed). */
export function engineRun(file: string, o: EngineFlags, log: (line: string) => void = () => {}): Outcome {
  let object: Uint8Array;
  if (!/\.(ts|mts|cts)$/.test(file)) {
    try {
      object = fs.readFileSync(file);
    } catch (e) {
      return failure("user", "usage", `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  } else {
    if (!fs.existsSync(file)) return failure("user", "usage", `cannot read ${file}: ENOENT`);
    const res = compileFile(file);
    if (!res.ok || !res.object) return { ...failure("user", "compile", "the program did not compile", { diagnostics: res.diagnostics }), messages: formatDiagnostics(res.diagnostics) };
    object = res.object;
  }
  try {
    const r = runUserEngine(object, {
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
      log,
      timeoutSec: o.timeout ?? 60,
      noRun: o.run === false,
      interpreter: o.interpreter,
      allowUncheckedSqes: o.allowUncheckedSqes,
    });
    return engineOutcome(r, !!o.trace);
  } catch (e) {
    const err = e as Error;
    // The program's fault (exit 1): refused by the structural check (verify), a failed run-time check or
    // SQE check, a ring state the guard refuses (run). A run past --timeout is exit 2, as in the kernel path.
    if (err instanceof VerifyError) return failure("user", "verify", err.message);
    if (err instanceof RingStateError) {
      // A program that reads the ring's geometry from globals the loaders do not fill sees zeros: say so.
      const hint = geometryHintOf(object);
      return failure("user", "run", hint ? `${err.message}. Note: ${hint}` : err.message, { ran: true });
    }
    if (err instanceof ExecutionError) return failure("user", "run", err.message, { ran: true });
    if (err instanceof ImageError || err instanceof ObjectFormatError) {
      // An unknown --prog is a usage error on both engines.
      return failure("user", /^no program named/.test(err.message) ? "usage" : "open", err.message);
    }
    if (err instanceof AssignError) return failure("user", "usage", err.message);
    if (err instanceof TimeoutError) return failure("user", "timeout", err.message, { ran: true });
    return failure("user", "setup", err.message);
  }
}

function geometryHintOf(object: Uint8Array): string | undefined {
  try {
    return geometryHint(loadImage(object));
  } catch {
    return undefined;
  }
}

/** Run FILE in the engine and print the result; returns the exit code. */
export function runInEngine(file: string, o: EngineFlags, io: EngineIO = stdio): number {
  const out = engineRun(file, o, (l) => io.err(l + "\n"));
  if (out.report.ran || out.exit === 0) io.err(UNVERIFIED_NOTE + "\n");
  printOutcome(out, !!o.json, io);
  return out.exit;
}
