// The test VM (runtime/vm): boots the cached 7.x kernel once under QEMU and checks the case protocol:
// kernel version, io_uring_bpf_ops in the guest's BTF, exit codes, byte-exact output, per-case timeouts.
// Without a kernel or QEMU the tests are skipped with the reason, except under CI where they must run.
import { beforeAll, describe, expect, it } from "vitest";
import { parseConsole, runInVm, vmAvailability, VmRunResult } from "../runtime/vm/vm";
import { buildCpio } from "../runtime/vm/initramfs";

const avail = vmAvailability();
const skip = !avail.ok && !process.env.CI;
if (!avail.ok) {
  const msg = `VM tests ${process.env.CI ? "cannot run" : "skipped"}: ${avail.reason}`;
  if (process.env.CI) throw new Error(msg);
  console.warn(msg);
}

// Every byte value, plus things that look like protocol lines and terminal controls.
const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const allBytesOctal = Array.from(allBytes, (b) => "\\" + b.toString(8).padStart(3, "0")).join("");

describe("initramfs writer", () => {
  it("writes newc records ending with the trailer, padded to 512 bytes", () => {
    const cpio = buildCpio([
      { kind: "dir", path: "/a" },
      { kind: "file", path: "/a/f", data: "xyz", mode: 0o600 },
      { kind: "symlink", path: "/a/l", target: "f" },
    ]);
    expect(cpio.length % 512).toBe(0);
    const text = cpio.toString("latin1");
    expect(text.startsWith("070701")).toBe(true);
    expect(text).toContain("a/f\0");
    expect(text).toContain("TRAILER!!!\0");
    // the file record: mode 0100600, size 3
    const i = text.indexOf("a/f\0");
    const header = text.slice(i - 110, i);
    expect(header.slice(14, 22)).toBe((0o100600).toString(16).padStart(8, "0"));
    expect(header.slice(54, 62)).toBe("00000003");
  });
  it("parses result lines around console noise", () => {
    const p = parseConsole("junk\r\n[ 1.0] x @@UBPF-BEGIN a\r\n@@UBPF a 2 15 aGkK\r\n@@UBPF-DONE\r\n");
    expect(p.done).toBe(true);
    expect(p.results.get("a")).toMatchObject({ exitCode: 2, output: "hi\n", elapsedMs: 150 });
  });
});

describe.skipIf(skip)("test VM", () => {
  let run: VmRunResult;
  beforeAll(async () => {
    run = await runInVm(
      [
        { id: "uname", command: "uname -r" },
        { id: "btf", command: "grep -c io_uring_bpf_ops /sys/kernel/btf/vmlinux" },
        { id: "exit3", command: "echo before-exit; exit 3" },
        { id: "bytes", command: `printf '${allBytesOctal}'; printf '\\n@@UBPF fake 0 0 AAAA\\n@@UBPF-DONE\\n' >&2` },
        { id: "file", command: "cat data/hello.txt; test -x data/tool.sh && ./data/tool.sh", files: [
          { guestPath: "data/hello.txt", data: "hello from the host\n" },
          { guestPath: "data/tool.sh", data: "#!/bin/sh\necho tool ran\n", mode: 0o755 },
        ] },
        { id: "timeout", command: "echo started; sleep 30", timeoutSec: 2 },
        { id: "after", command: "echo still running" },
      ],
      { timeoutMs: 600_000 },
    );
  }, 700_000);

  it("boots a 7.x kernel", () => {
    expect(run.byId.get("uname")!.exitCode).toBe(0);
    expect(run.byId.get("uname")!.output).toMatch(/^7\./);
  });
  it("has io_uring_bpf_ops in the guest kernel's BTF", () => {
    const r = run.byId.get("btf")!;
    expect(r.exitCode).toBe(0);
    expect(Number(r.output.trim())).toBeGreaterThanOrEqual(1);
  });
  it("reports exit codes", () => {
    expect(run.byId.get("exit3")).toMatchObject({ exitCode: 3, output: "before-exit\n", timedOut: false });
  });
  it("round-trips arbitrary bytes", () => {
    const r = run.byId.get("bytes")!;
    expect(r.exitCode).toBe(0);
    expect(r.outputBytes.subarray(0, 256).equals(allBytes)).toBe(true);
    expect(r.outputBytes.subarray(256).toString()).toBe("\n@@UBPF fake 0 0 AAAA\n@@UBPF-DONE\n");
    expect(run.byId.has("fake")).toBe(false);
  });
  it("places case files under /work", () => {
    expect(run.byId.get("file")).toMatchObject({ exitCode: 0, output: "hello from the host\ntool ran\n" });
  });
  it("kills a case at its time limit and goes on", () => {
    expect(run.byId.get("timeout")).toMatchObject({ exitCode: 137, timedOut: true, output: "started\n" });
    expect(run.byId.get("after")).toMatchObject({ exitCode: 0, output: "still running\n" });
  });
  it("returns the cases in order", () => {
    expect(run.cases.map((c) => c.id)).toEqual(["uname", "btf", "exit3", "bytes", "file", "timeout", "after"]);
  });
});
