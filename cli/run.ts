// `uringbpf run FILE.ts|FILE.o`: compile if needed, then run the program: in the kernel with the native
// loader (on the host when its kernel has io_uring BPF ops, else in the test VM, runtime/run.ts), or in the
// userspace engine (the BPF interpreter driving a real ring in this process, runtime/engine/driver.ts).
// Exit codes: 0 success, 1 the program failed (compile errors, verifier rejection, run error), 2 usage
// or environment problems (no loader, no kernel, VM failure).

import { Command } from "commander";
import { runInEngine } from "./engine";
import { formatRunResult, hostHasBpfOps, RunError, runProgram, type RunOptions } from "../runtime/run";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer (got '${value}')`);
    return n;
  };
}

interface RunFlags {
  set: string[];
  open: string[];
  buffer: string[];
  mem: string[];
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
  allowUncheckedSqes?: boolean;
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
    .option("--sq-entries <n>", "SQ size (default 8)", positiveInt("--sq-entries"))
    .option("--mem-region <bytes>", "MEM region size (default: the size of the program's ring.mem<T>() layout)", positiveInt("--mem-region"))
    .option("--vm", "run in the test VM even if the host kernel has io_uring BPF ops")
    .option("--engine <kind>", "kernel (the program runs in the kernel: on the host or in the VM) or user (the BPF interpreter drives a real ring in this process; no root, any kernel). Default: kernel when the host has io_uring BPF ops or --vm is given, else user")
    .option("--kvm", "use KVM for the VM (default: TCG emulation)")
    .option("--timeout <s>", "time limit of the run in seconds", positiveInt("--timeout"), 60)
    .option("--trace", "show trace() output (bpf_trace_printk) after the run")
    .option("--no-run", "load and attach only: check that the verifier accepts the program")
    .option("--prog <name>", "the program to run when the object holds several")
    .option("--json", "print the loader's JSON line as is")
    .option("--verbose", "show the VM's console while it runs")
    .option("--allow-unchecked-sqes", "userspace engine only: submit SQEs whose memory and descriptors the engine cannot check (registered buffers, futexes, other rings, uring_cmd, ...); the kernel may then read or write any memory of this process for the program")
    .addHelpText(
      "after",
      "\nWithout io_uring BPF ops in the host kernel (Linux 7.1+), the program runs in a QEMU VM booting the\n" +
        "kernel fetched by `bash scripts/fetch-kernel.sh`. Files given with --open are copied into the VM;\n" +
        "files the program writes (modes w, rw, a) are copied back.\n\n" +
        "Examples:\n  uringbpf run samples/nops.ts --set reqsToRun=100000\n  uringbpf run samples/cp.ts --open inFd=in.bin --open outFd=out.bin:w --buffer buf=65536\n\n" +
        "Exit status: 0 success, 1 compile errors, verifier rejection or run error, 2 usage or environment errors.",
    )
    .action(async (file: string, o: RunFlags) => {
      const opts: RunOptions = {
        set: o.set,
        open: o.open,
        buffer: o.buffer,
        mem: o.mem,
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
      const engine = o.engine ?? (o.vm || hostHasBpfOps() ? "kernel" : "user");
      if (engine !== "kernel" && engine !== "user") {
        process.stderr.write(`uringbpf run: --engine must be kernel or user (got '${engine}')\n`);
        return setExit(2);
      }
      if (engine === "user") return setExit(runInEngine(file, o));
      try {
        const r = await runProgram(file, opts);
        if (o.json) {
          if (r.jsonLine) process.stdout.write(r.jsonLine + "\n");
          if (r.messages.trim() && !r.ok) process.stderr.write(r.messages.trimEnd() + "\n");
        } else {
          (r.ok ? process.stdout : process.stderr).write(formatRunResult(r) + "\n");
        }
        // Loader exits: 3 kernel lacks ops, 5 setup, 6 attach are environment problems; 4 verifier, 7 run: the program's.
        setExit(r.ok ? 0 : [3, 5, 6].includes(r.loaderExit) || !r.report ? 2 : 1);
      } catch (e) {
        if (!(e instanceof RunError)) throw e;
        if (o.json && e.kind === "compile") {
          process.stdout.write(JSON.stringify({ ok: false, stage: "compile", diagnostics: e.diagnostics }) + "\n");
        } else {
          process.stderr.write((e.kind === "compile" ? e.message : `uringbpf run: ${e.message}`) + "\n");
        }
        setExit(e.kind === "compile" ? 1 : 2);
      }
    });
}
