// Output into a pipe whose reader has gone (`uringbpf run --help | head`) ends every command quietly with
// status 141 (128 + SIGPIPE, as a C tool killed by SIGPIPE), never an unhandled EPIPE stack trace; the
// command still finishes its work (nothing it started is left running). The test closes the read end of
// the child's stdout (or stderr) before the child has started, so its first write meets a pipe without a
// reader.

import { spawn, spawnSync } from "child_process";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";

const root = path.join(__dirname, "..");
const cli = path.join(root, "cli", "uringbpf.js");

/** Run the CLI with `closed` ("stdout" or "stderr") a pipe closed at once; the other stream is collected. */
function withClosedPipe(args: string[], closed: "stdout" | "stderr"): Promise<{ code: number | null; signal: string | null; other: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    child[closed].destroy();
    let other = "";
    const keep = closed === "stdout" ? child.stderr : child.stdout;
    keep.setEncoding("utf8");
    keep.on("data", (d: string) => (other += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, other }));
  });
}

beforeAll(() => {
  // The first call builds the CLI bundle if the checkout's sources are newer than it.
  expect(spawnSync(process.execPath, [cli, "--version"], { encoding: "utf8", timeout: 300_000 }).status).toBe(0);
}, 300_000);

describe("a closed output pipe", () => {
  const commands: string[][] = [
    ["--help"],
    ["--version"],
    ["build", "--help"],
    ["check", "--help"],
    ["run", "--help"],
    ["vm", "--help"],
    ["build", "samples/records.ts", "--emit", "asm"],
    ["build", "samples/nops.ts", "--emit", "ir"],
    ["check", "samples/nops.ts"],
    ["vm", "status"],
    // A run: the engine's ring is set up and torn down as usual, only the result line is dropped.
    ["run", "samples/nops.ts", "--engine", "user", "--set", "reqsToRun=100", "--json"],
  ];
  for (const args of commands) {
    it(`uringbpf ${args.join(" ")} with stdout closed: exit 141, no error on stderr`, async () => {
      const r = await withClosedPipe(args, "stdout");
      expect([r.code, r.signal]).toEqual([141, null]);
      // Nothing but the userspace engine's one-line note that the verifier has not checked the program.
      expect(r.other).toMatch(/^(note: the userspace engine ran the program without the kernel verifier's check[^\n]*\n)?$/);
    }, 120_000);
  }

  it("uringbpf build of a missing file with stderr closed: exit 141, nothing on stdout", async () => {
    const r = await withClosedPipe(["build", "no-such-file.ts"], "stderr");
    expect([r.code, r.signal, r.other]).toEqual([141, null, ""]);
  }, 120_000);

  it("`uringbpf run --help | head -1` in a shell prints the first line and no stack trace", () => {
    const r = spawnSync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${cli}" run --help 2>err.txt | head -1; echo "status=$?"; cat err.txt; rm -f err.txt`], { cwd: require("os").tmpdir(), encoding: "utf8", timeout: 120_000 });
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("Usage: uringbpf run [options] <file>");
    // The help fits a pipe's buffer, so whether the write met the closed pipe is a race: either way, quiet.
    expect(["status=0", "status=141"]).toContain(lines[1]);
    expect(lines.slice(2).join("\n")).toBe("");
  }, 120_000);
});
