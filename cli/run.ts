// `uringbpf run FILE.ts|FILE.o`: compile if needed, then run the program: in the kernel with the native
// loader (on the host when its kernel has io_uring BPF ops, else in the test VM, runtime/run.ts), or in the
// userspace engine (the BPF interpreter driving a real ring in this process, runtime/engine/driver.ts).
// Exit codes: 0 success, 1 the program failed (compile errors, verifier rejection, run error), 2 usage
// or environment problems (no loader, no kernel, VM failure).

import { Command, InvalidArgumentError } from "commander";
import { runInEngine } from "./engine";
import { kernelError, kernelOutcome, printOutcome, type Outcome } from "./report";
import { hostHasBpfOps, RunError, runProgram, type RunOptions } from "../runtime/run";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A commander parser for an integer in [1, max]; a bad value is a usage error (exit 2), not an internal one. */
function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER, unit = "") {
  return (value: string): number => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n <= 0 || n > max)
      throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}${unit} (got '${value}')`);
    return n;
  };
}

/** The largest MEM region `--mem-region` accepts: 1 GiB. */
export const MAX_MEM_REGION = 1 << 30;
/** io_uring's largest SQ (IORING_MAX_ENTRIES). */
const MAX_SQ_ENTRIES = 32768;

const OPEN_MODES = ["r", "w", "rw", "a"];

/** `--open NAME=PATH[:MODE]`: a trailing `:WORD` of letters is a mode and must be one of OPEN_MODES. */
export function checkOpenArg(arg: string): string | null {
  const eq = arg.indexOf("=");
  if (eq <= 0) return `--open ${arg}: expected NAME=PATH[:MODE]`;
  const m = /:([A-Za-z+]+)$/.exec(arg.slice(eq + 1));
  if (m && !OPEN_MODES.includes(m[1]))
    return `--open ${arg}: unknown mode '${m[1]}' (modes: ${OPEN_MODES.join(", ")}; for a path that ends in ':${m[1]}', add the mode: '${arg}:r')`;
  if (arg.slice(eq + 1).replace(/:(r|w|rw|a)$/, "") === "") return `--open ${arg}: empty path`;
  return null;
}

interface RunFlags {
  set: string[];
  open: string[];
  buffer: string[];
  mem: string[];
  map: string[];
  engine?: string;
  sqEntries?: number;
  memRegion?: number;
  vm?: boolean;
  kvm?: boolean;
  json?: boolean;
  timeout: number;
  trace?: boolean;
  run: boolean;
  prog?: string;
  verbose?: boolean;
  interpreter?: boolean;
  allowUncheckedSqes?: boolean;
}

/** The kernel path's RunOptions from the parsed flags. */
export function runOptions(o: RunFlags): RunOptions {
  return {
    set: o.set,
    open: o.open,
    buffer: o.buffer,
    mem: o.mem,
    map: o.map,
    sqEntries: o.sqEntries,
    memRegion: o.memRegion,
    vm: o.vm,
    kvm: o.kvm,
    timeoutSec: o.timeout,
    trace: o.trace,
    noRun: !o.run,
    prog: o.prog,
    onConsoleLine: o.verbose ? (l) => process.stderr.write(`[vm] ${l}\n`) : undefined,
  };
}

/** Run FILE in the kernel (host or VM): the outcome, nothing printed. */
export async function kernelRun(file: string, opts: RunOptions): Promise<Outcome> {
  try {
    return kernelOutcome(await runProgram(file, opts), opts.timeoutSec ?? 60);
  } catch (e) {
    if (!(e instanceof RunError)) throw e;
    return { ...kernelError(e), messages: e.kind === "compile" ? e.message : undefined };
  }
}

/** Adds the `run` command to the CLI. `setExit` receives the exit code. */
export function registerRun(program: Command, setExit: (code: number) => void = (c) => (process.exitCode = c)): void {
  program
    .command("run")
    .description("compile if needed, load, attach to a new ring and run once; prints the globals, the verifier's count and the run time")
    .argument("<file>", "a DSL source (FILE.ts) or a BPF object (FILE.o)")
    .option("--set <name=value>", "set an integer global before load (repeatable)", collect, [])
    .option("--open <name=path[:mode]>", "open a file (mode r, w, rw, a; default r) and store the fd in a global (repeatable)", collect, [])
    .option("--buffer <name=size>", "allocate a zeroed buffer and store its address in a global (repeatable)", collect, [])
    .option("--mem <path=value>", "set a field of the MEM region before the run, by its layout: count, hdr.len, slots[3] (repeatable)", collect, [])
    .option("--map <name[key]path=value>", "preset a map entry before the run: hist[3]=5, reqs[7].start=0, struct keys and values as conns[{port=80,proto=6}]={bytes=1,up=true} (repeatable; docs/LANGUAGE.md \"Maps\"); every map is printed after the run", collect, [])
    .option("--sq-entries <n>", `SQ size (default 8, at most ${MAX_SQ_ENTRIES})`, positiveInt("--sq-entries", MAX_SQ_ENTRIES))
    .option("--mem-region <bytes>", "MEM region size, at most 1 GiB (default: the size of the program's ring.mem<T>() layout)", positiveInt("--mem-region", MAX_MEM_REGION, " bytes"))
    .option("--vm", "run in the test VM even if the host kernel has io_uring BPF ops")
    .option("--engine <kind>", "kernel (the program runs in the kernel: on the host or in the VM) or user (the BPF interpreter drives a real ring in this process; no root, any kernel). Default: kernel when the host has io_uring BPF ops or --vm is given, else user")
    .option("--kvm", "use KVM for the VM (default: TCG emulation)")
    .option("--timeout <s>", "time limit of the run in seconds (1 to 86400): a run past it is stopped and reported (exit 2)", positiveInt("--timeout", 86400, " seconds"), 60)
    .option("--trace", "show trace() output (bpf_trace_printk) after the run")
    .option("--no-run", "set up only, do not call loop_step: the kernel engine loads and attaches (the verifier checks the program); the userspace engine sets up its ring and globals")
    .option("--prog <name>", "the program to run when the object holds several")
    .option("--json", "print the result as one JSON line (the same schema for both engines: docs/RUN.md)")
    .option("--verbose", "show the VM's console while it runs")
    .option("--interpreter", "userspace engine: run the reference BPF interpreter instead of the JavaScript translation (slower)")
    .option("--allow-unchecked-sqes", "userspace engine only: submit SQEs whose memory and descriptors the engine cannot check (registered buffers, futexes, other rings, uring_cmd, ...); the kernel may then read or write any memory of this process for the program")
    .addHelpText(
      "after",
      "\nWithout io_uring BPF ops in the host kernel (Linux 7.1+), the program runs in a QEMU VM booting the\n" +
        "kernel that `uringbpf vm setup` fetches. Files given with --open are copied into the VM;\n" +
        "files the program writes (modes w, rw, a) are copied back.\n\n" +
        "Examples:\n  uringbpf run samples/nops.ts --set reqsToRun=100000\n  uringbpf run samples/cp.ts --open inFd=in.bin --open outFd=out.bin:w --buffer buf=65536\n\n" +
        "Exit status: 0 success; 1 the program failed (compile errors, a bad object, verifier rejection, run error,\n" +
        "failed run-time check); 2 usage or environment (bad flag or value, unknown --prog, --timeout reached,\n" +
        "missing loader, addon or VM). The userspace engine does not run the kernel verifier: it says so once.",
    )
    .action(async (file: string, o: RunFlags) => {
      for (const a of o.open) {
        const why = checkOpenArg(a);
        if (why) {
          process.stderr.write(`uringbpf run: ${why}\n`);
          return setExit(2);
        }
      }
      const engine = o.engine ?? (o.vm || hostHasBpfOps() ? "kernel" : "user");
      if (engine !== "kernel" && engine !== "user") {
        process.stderr.write(`uringbpf run: --engine must be kernel or user (got '${engine}')\n`);
        return setExit(2);
      }
      if (engine === "user") return setExit(runInEngine(file, o));
      const out = await kernelRun(file, runOptions(o));
      printOutcome(out, !!o.json);
      setExit(out.exit);
    });
}
