// Writing the CLI's outputs safely: never over an input (the same file, also through a hard or symbolic
// link), never a half-written file (a temporary `.NAME.PID.tmp` beside the output, then a rename), and a
// plain sentence when the place cannot be written (a missing or read-only directory, a directory in the
// way) rather than an "internal error". A temporary file left by a process killed before its rename is
// removed by the next write of the same output.

import * as fs from "fs";
import * as path from "path";

/** A problem with an output path: the CLI prints the message and exits 2 (usage/environment). */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputError";
  }
}

function statOrNull(p: string, follow = true): fs.Stats | null {
  try {
    return follow ? fs.statSync(p) : fs.lstatSync(p);
  } catch {
    return null;
  }
}

/** Throws OutputError when `out` cannot or must not be written; `inputs` are the files the command reads. */
export function checkOutput(out: string, inputs: string[]): void {
  if (out === "" || out.endsWith("/")) throw new OutputError(`output '${out}' names a directory, not a file`);
  const st = statOrNull(out);
  if (st?.isDirectory()) throw new OutputError(`${out} is a directory: give the output file's name (e.g. ${path.join(out, "prog.o")})`);
  if (st) {
    for (const input of inputs) {
      const ist = statOrNull(input);
      if (ist && ist.dev === st.dev && ist.ino === st.ino)
        throw new OutputError(
          `${out} is the input ${input}${path.resolve(out) === path.resolve(input) ? "" : " (the same file through a link)"}: refusing to overwrite the source; choose another output (e.g. -o ${input.replace(/\.[cm]?ts$/, "")}.o)`,
        );
    }
  }
  const dir = path.dirname(path.resolve(out));
  const dst = statOrNull(dir);
  if (!dst) throw new OutputError(`cannot write ${out}: the directory ${path.dirname(out)} does not exist (create it first)`);
  if (!dst.isDirectory()) throw new OutputError(`cannot write ${out}: ${path.dirname(out)} is not a directory`);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw new OutputError(`cannot write ${out}: the directory ${path.dirname(out)} is not writable (${(e as NodeJS.ErrnoException).code})`);
  }
}

/** A plain sentence for an errno met while writing `out`. */
function explain(out: string, e: NodeJS.ErrnoException): string {
  const dir = path.dirname(out);
  switch (e.code) {
    case "ENOENT":
      return `cannot write ${out}: the directory ${dir} does not exist`;
    case "EACCES":
    case "EPERM":
      return `cannot write ${out}: permission denied in ${dir} (${e.code})`;
    case "EROFS":
      return `cannot write ${out}: ${dir} is on a read-only file system`;
    case "EISDIR":
      return `${out} is a directory: give the output file's name`;
    case "ENOTDIR":
      return `cannot write ${out}: a part of ${dir} is not a directory`;
    case "ENOSPC":
    case "EDQUOT":
      return `cannot write ${out}: no space left on the device (${e.code})`;
    default:
      return `cannot write ${out}: ${e.code ?? e.message}`;
  }
}

/** The temporary file of process `pid` for `out`. */
export function tempName(out: string, pid: number = process.pid): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.${pid}.tmp`);
}

/** Remove `.NAME.PID.tmp` files of `out` whose process no longer exists (killed before its rename). */
export function removeStaleTemps(out: string): void {
  const dir = path.dirname(out);
  const prefix = `.${path.basename(out)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix) || !n.endsWith(".tmp")) continue;
    const pid = Number(n.slice(prefix.length, -4));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // still running (or another user's): its file
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") continue;
    }
    try {
      if (fs.lstatSync(path.join(dir, n)).isFile()) fs.unlinkSync(path.join(dir, n));
    } catch {
      /* gone already */
    }
  }
}

/** Write `out` atomically after checkOutput's checks; throws OutputError with a plain message. */
export function writeOutput(out: string, data: Uint8Array | string, inputs: string[]): void {
  checkOutput(out, inputs);
  removeStaleTemps(out);
  const tmp = tempName(out);
  try {
    fs.rmSync(tmp, { force: true }); // this pid's own, left by an earlier process with the same pid
    fs.writeFileSync(tmp, data, { flag: "wx" });
    fs.renameSync(tmp, out);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* not created */
    }
    throw new OutputError(explain(out, e as NodeJS.ErrnoException));
  }
}
