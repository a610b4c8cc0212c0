// The uringbpf command line: `build` (TypeScript -> BPF object, or its disassembly/IR), `check` (every
// compile-time check, nothing written), and `run` (registered by cli/run.ts). Exit codes: 0 success,
// 1 diagnostics (bad input), 2 usage or internal errors.

import * as fs from "fs";
import * as path from "path";
import { Command, CommanderError } from "commander";
import { packageRoot } from "../compiler/paths";
import { compileFile, formatDiagnostics, PASS_NAMES, programAsm, type CompileResult } from "../compiler/index";
import { checkOutput, OutputError, writeOutput } from "./output";
import { registerRun } from "./run";
import { registerVm } from "./vm";

function useColor(opt: boolean | undefined): boolean {
  if (opt !== undefined) return opt;
  return !!process.stderr.isTTY && !process.env.NO_COLOR;
}

function report(res: CompileResult, json: boolean, color: boolean, extra: Record<string, unknown> = {}): void {
  if (json) {
    const programs = res.programs.map((p) => ({ name: p.name, slots: p.slots, stack: p.stackSize }));
    process.stdout.write(JSON.stringify({ ok: res.ok, diagnostics: res.diagnostics, programs, ...extra }) + "\n");
  } else if (!res.ok) {
    process.stderr.write(formatDiagnostics(res.diagnostics, { color, cwdRelative: (f) => path.relative(process.cwd(), path.resolve(f)) || f }) + "\n");
  }
}

/** Default output path: FILE.ts -> FILE.o beside it. */
function defaultOut(input: string): string {
  return input.replace(/\.(ts|mts|cts)$/, "") + ".o";
}

/** Build the command tree. Exported for tests. */
export function makeProgram(setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name("uringbpf")
    .description("Compile io_uring loop_step programs written in TypeScript to BPF objects, and run them.")
    .version(JSON.parse(fs.readFileSync(path.join(packageRoot(), "package.json"), "utf8")).version as string)
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", "\nOutput into a pipe that closes early (uringbpf build x.ts --emit asm | head) ends any command quietly\nwith exit status 141, as SIGPIPE ends a C tool.")
    .exitOverride();

  program
    .command("build")
    .description("compile FILE.ts to a BPF ELF object that libbpf-based loaders accept")
    .argument("<file>", "the DSL source file (TypeScript)")
    .option("-o, --output <file>", "where to write the object (default: FILE.o beside the source)")
    .option("--emit <kind>", "what to produce: obj (the object), asm (disassembly with the TypeScript lines), ir (the IR)", "obj")
    .option("--print-after <pass>", `with --emit ir: the IR after this pass of the pipeline (${PASS_NAMES.join(", ")})`)
    .option("--json", "print the result and diagnostics as one JSON line")
    .option("--no-typecheck", "skip the TypeScript type checker (DSL checks still run)")
    .option("--color", "colour diagnostics (default: when stderr is a terminal)")
    .option("--no-color", "never colour diagnostics")
    .addHelpText("after", "\nExamples:\n  uringbpf build samples/nops.ts -o nops.o\n  uringbpf build samples/cp.ts --emit asm\n\nExit status: 0 on success, 1 when the program has errors, 2 on usage errors.")
    .action((file: string, o: { output?: string; emit: string; printAfter?: string; json?: boolean; typecheck: boolean; color?: boolean }) => {
      if (!["obj", "asm", "ir"].includes(o.emit)) {
        process.stderr.write(`uringbpf: --emit must be obj, asm or ir (got '${o.emit}')\n`);
        return setExit(2);
      }
      if (o.printAfter !== undefined && (o.emit !== "ir" || !PASS_NAMES.includes(o.printAfter))) {
        process.stderr.write(`uringbpf: --print-after takes --emit ir and one of: ${PASS_NAMES.join(", ")} (got '${o.printAfter}')\n`);
        return setExit(2);
      }
      const out = o.emit === "obj" ? (o.output ?? defaultOut(file)) : o.output;
      try {
        // Before compiling: a refused output costs nothing and the source is never touched.
        if (out !== undefined) checkOutput(out, [file]);
      } catch (e) {
        if (!(e instanceof OutputError)) throw e;
        process.stderr.write(`uringbpf build: ${e.message}\n`);
        return setExit(2);
      }
      const res = compileFile(file, { typeCheck: o.typecheck, ir: o.emit === "ir", printAfter: o.printAfter });
      if (!res.ok || !res.object) {
        report(res, !!o.json, useColor(o.color));
        return setExit(1);
      }
      const data =
        o.emit === "obj"
          ? res.object
          : res.programs.map((p) => (o.emit === "asm" ? `${p.name}:  // ${p.slots} instruction slots, ${p.stackSize} bytes of stack\n${programAsm(p)}` : p.ir)).join("\n\n") + "\n";
      if (out === undefined) process.stdout.write(data);
      else {
        try {
          writeOutput(out, data, [file]);
        } catch (e) {
          if (!(e instanceof OutputError)) throw e;
          process.stderr.write(`uringbpf build: ${e.message}\n`);
          return setExit(2);
        }
      }
      if (o.json) report(res, true, false, { output: out ?? null });
      return setExit(0);
    });

  program
    .command("check")
    .description("type-check FILE.ts and run every compile-time check without writing anything")
    .argument("<file>", "the DSL source file")
    .option("--json", "print the result and diagnostics as one JSON line")
    .option("--color", "colour diagnostics")
    .option("--no-color", "never colour diagnostics")
    .action((file: string, o: { json?: boolean; color?: boolean }) => {
      const res = compileFile(file);
      report(res, !!o.json, useColor(o.color));
      if (res.ok && !o.json) process.stdout.write(`${file}: ok (${res.programs.map((p) => `${p.name}: ${p.slots} slots`).join(", ")})\n`);
      setExit(res.ok ? 0 : 1);
    });

  // `run` lives in its own module (it needs the loader and the VM).
  registerRun(program, setExit);
  registerVm(program, setExit);
  return program;
}

/** The exit status when stdout or stderr is a pipe whose reader went away (`uringbpf run --help | head`):
 *  128 + SIGPIPE, what a C tool killed by SIGPIPE reports, and nothing printed. */
export const EXIT_PIPE = 141;

/** A write to a closed pipe is not an error of the command (Node ignores SIGPIPE and raises EPIPE as an
 *  'error' event, which unhandled is a stack trace): the rest of the output is dropped, the command
 *  finishes (a loader or VM it started ends as usual, nothing is left running) and the exit status is
 *  EXIT_PIPE. Any other write failure (ENOSPC on a redirected file) is said once, exit 2. */
let pipeGuarded = false;
let pipeClosed = false;
let writeFailed = false;
function guardOutput(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  for (const s of [process.stdout, process.stderr]) {
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED") {
        pipeClosed = true;
        return;
      }
      if (!writeFailed && s !== process.stderr) process.stderr.write(`uringbpf: cannot write the output: ${e.message}\n`);
      writeFailed = true;
    });
  }
}

/** The exit code, once the streams have reported how their last writes went. */
async function settle(code: number): Promise<number> {
  await new Promise((r) => setImmediate(r));
  return pipeClosed ? EXIT_PIPE : writeFailed ? 2 : code;
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  guardOutput();
  let code = 0;
  const program = makeProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) return settle(e.exitCode === 0 ? 0 : 2);
    const err = e as Error;
    process.stderr.write(`uringbpf: internal error: ${err.message}\n`);
    if (process.env.UBPF_DEBUG) process.stderr.write(`${err.stack}\n`);
    else process.stderr.write("(set UBPF_DEBUG=1 for the stack trace; please report this with the input file)\n");
    return settle(2);
  }
  return settle(code);
}

if (require.main === module) main(process.argv).then((c) => process.exit(c));
