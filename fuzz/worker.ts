// The fuzz harness's child process: runs one input at a time through a stage in process (the compiler, the
// object reader, the userspace engine on the simulated ring) and reports how it ended. The parent owns the
// time and memory limits: it kills this process when a job runs too long or grows too large, and sees
// signals and out-of-memory deaths from the outside.

import { compileSource } from "../compiler/index";
import { ObjectFormatError, readObject } from "../compiler/elf/reader";
import { RingStateError, runUserEngine, TimeoutError } from "../runtime/engine/driver";
import { loadImage } from "../runtime/engine/image";
import { ExecutionError } from "../runtime/engine/interp";
import { simulatedAddon } from "./simring";

export type Job =
  | { id: number; kind: "compile"; name: string; text: string; noTypecheck: boolean; wantObject?: boolean }
  | { id: number; kind: "reader" | "engine"; bytes: Uint8Array };

/** A job before the pool numbers it. */
export type JobSpec = Job extends infer J ? (J extends unknown ? Omit<J, "id"> : never) : never;

export interface JobResult {
  id: number;
  /** ok: accepted; rejected: a clean diagnostic or error; exception: a crash of our code. */
  status: "ok" | "rejected" | "exception";
  detail: string;
  object?: Uint8Array;
}

/** Diagnostic codes that mean the compiler caught its own crash (they count as exceptions). */
export const INTERNAL_CODES = new Set([9001]);

/** Errors a consumer raises on purpose for bad input; anything else (TypeError, RangeError...) is a crash. */
function expected(e: unknown): boolean {
  // The engine's refusals: a structural check (VerifyError is an ExecutionError), the ring-state guard, --timeout.
  if (e instanceof ObjectFormatError || e instanceof ExecutionError || e instanceof RingStateError || e instanceof TimeoutError) return true;
  if (!(e instanceof Error) || e.constructor !== Error) return false;
  return !/^internal[: ]/.test(e.message);
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}: ${e.message}\n${(e.stack ?? "").split("\n").slice(1, 8).join("\n")}`;
  return `thrown non-Error: ${String(e)}`;
}

export function runJob(job: Job): JobResult {
  try {
    if (job.kind === "compile") {
      const res = compileSource(job.name, job.text, { typeCheck: !job.noTypecheck });
      const internal = res.diagnostics.find((d) => INTERNAL_CODES.has(d.code));
      if (internal) return { id: job.id, status: "exception", detail: `UBPF${internal.code}: ${internal.message}` };
      if (!res.ok) return { id: job.id, status: "rejected", detail: res.diagnostics.map((d) => `UBPF${d.code}`).join(",") };
      return { id: job.id, status: "ok", detail: `${res.programs.length} programs`, object: job.wantObject ? res.object : undefined };
    }
    if (job.kind === "reader") {
      const obj = readObject(job.bytes);
      // Touch everything the reader offers lazily.
      for (const s of obj.sections) if (s.type === 1 && (s.flags & 4) !== 0) obj.insns(s.name);
      loadImage(job.bytes);
      return { id: job.id, status: "ok", detail: `${obj.sections.length} sections` };
    }
    const sim = simulatedAddon();
    const r = runUserEngine(job.bytes, { addon: sim.addon, maxSteps: 100, maxInsns: 200_000, log: () => {} });
    return { id: job.id, status: "ok", detail: `ret ${r.ret} after ${r.steps} steps` };
  } catch (e) {
    if (expected(e)) return { id: job.id, status: "rejected", detail: (e as Error).message.slice(0, 200) };
    return { id: job.id, status: "exception", detail: describe(e) };
  }
}

if (process.argv.includes("--uringbpf-fuzz-worker")) {
  // Warm up (TypeScript's checker and the runtime declarations load on the first compile), then say so:
  // the parent's time limit covers jobs, not this start-up.
  compileSource("warm.ts", `import { loopStep, STOP } from "uringbpf";\nexport const p = loopStep((ring, lp) => STOP);\n`);
  process.send!({ ready: true });
  process.on("message", (job: Job) => {
    if (job.kind !== "compile") job.bytes = Uint8Array.from(Buffer.from(job.bytes as unknown as string, "base64"));
    const r = runJob(job);
    process.send!({ ...r, object: r.object ? Buffer.from(r.object).toString("base64") : undefined });
  });
}
