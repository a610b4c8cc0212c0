/**
 * Test VM: boots the cached Linux 7.x kernel (scripts/fetch-kernel.sh) under QEMU with a generated
 * busybox initramfs, runs shell commands ("cases") in the guest one after another, and hands back each
 * case's exit code and output.
 *
 * Protocol on the serial console (the guest's /init writes it, `runInVm` parses it):
 *   @@UBPF-BEGIN <caseId>                                  before a case starts (for timeout diagnostics)
 *   @@UBPF <caseId> <exitCode> <elapsedCentiseconds> <base64 of stdout+stderr>
 *   @@UBPF-DONE
 * Each result line is written with a single write(2) (busybox dd with bs = line length) and the kernel
 * runs with `quiet loglevel=0`, so kernel messages cannot split it; base64 keeps arbitrary bytes intact.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { buildInitramfs, InitramfsEntry, withParentDirs } from "./initramfs";
import { cacheRoot as userCacheRoot } from "../cache";

/** A file to place in the guest. Relative `guestPath`s are under /work. */
export interface VmFile {
  guestPath: string;
  /** Host file to copy (read when the initramfs is built). */
  hostPath?: string;
  /** Or the contents directly. */
  data?: Uint8Array | string;
  /** Permission bits; default 0o755 for host files that are executable, else 0o644. */
  mode?: number;
}

/** One command to run in the guest. */
export interface VmCase {
  /** Identifier printed in the result line: letters, digits and `_ . : -` only. */
  id: string;
  /** A busybox `sh` script; runs with cwd /work, stdin /dev/null, stdout and stderr captured together. */
  command: string;
  /** Per-case time limit in seconds (default 120); the case is killed with SIGKILL after it. */
  timeoutSec?: number;
  /** Files this case needs (placed in the same initramfs as everything else). */
  files?: VmFile[];
}

/** Options of `runInVm`. */
export interface VmOptions {
  /** Whole-boot time limit in milliseconds (default 600000). QEMU is killed when it passes. */
  timeoutMs?: number;
  /** Use `-accel kvm -cpu host` instead of TCG (off by default: KVM guests fail on some hosts). */
  kvm?: boolean;
  /** TCG with `-icount shift=0,sleep=off`: the guest clock counts executed guest instructions (1 ns
   *  each), so timings do not move with host load. The first seconds after boot read high: warm up. */
  icount?: boolean;
  /** Guest memory in MiB (default 1024). */
  memoryMb?: number;
  /** Extra files for all cases. */
  files?: VmFile[];
  /** Kernel directory holding `vmlinuz` (default: `findKernel()`). */
  kernelDir?: string;
  /** Include the loader binaries of `<cache>/bin/` as /usr/local/bin/* (default true). */
  includeLoaders?: boolean;
  /** Extra kernel command-line arguments. */
  append?: string;
  /** Keep the temporary directory (initramfs, console log) even on success. */
  keepTemp?: boolean;
  /** Called with each console line as it arrives (for `--verbose`-style progress). */
  onConsoleLine?: (line: string) => void;
}

/** The result of one case. */
export interface VmCaseResult {
  id: string;
  exitCode: number;
  /** stdout and stderr of the case, decoded as UTF-8. */
  output: string;
  /** The same output, byte-exact. */
  outputBytes: Buffer;
  /** Wall time inside the guest, in milliseconds (10 ms resolution). */
  elapsedMs: number;
  /** True when the case was killed by its time limit. */
  timedOut: boolean;
}

/** The result of a VM run. */
export interface VmRunResult {
  /** Results in the order of the cases passed in. */
  cases: VmCaseResult[];
  byId: Map<string, VmCaseResult>;
  /** Wall time from QEMU start to exit, in milliseconds. */
  wallMs: number;
  /** Path of the full serial console log. */
  consoleLogPath: string;
  /** Kernel version directory name that was booted. */
  kernelVersion: string;
}

/** Kinds of VM failures, so callers (tests, CLI) can react to a missing kernel differently from a hang. */
export type VmErrorKind =
  | "kernel-missing"
  | "qemu-missing"
  | "busybox-missing"
  | "bad-case"
  | "boot-timeout"
  | "qemu-failed"
  | "case-missing";

/** A VM failure with a message that says what to do about it. */
export class VmError extends Error {
  constructor(
    readonly kind: VmErrorKind,
    message: string,
    readonly consoleLogPath?: string,
  ) {
    super(message);
    this.name = "VmError";
  }
}

// --- locating things ---------------------------------------------------------------------------------

/** The repository root: the nearest ancestor of this file (or of the cwd) with the uringbpf package.json. */
export function repoRoot(): string {
  const starts = [typeof __dirname === "string" ? __dirname : "", process.cwd()].filter(Boolean);
  for (const start of starts) {
    let dir = path.resolve(start);
    for (;;) {
      const pkg = path.join(dir, "package.json");
      if (existsSync(pkg)) {
        try {
          if (JSON.parse(readFileSync(pkg, "utf8")).name === "uringbpf") return dir;
        } catch {
          /* keep looking */
        }
      }
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return process.cwd();
}

/** The cache root (runtime/cache.ts): `$UBPF_CACHE`, a checkout's `.cache/uringbpf`, else the XDG cache. */
export function cacheRoot(): string {
  return userCacheRoot();
}

/** The kernel the VM boots (`<cache>/kernel/current`), or null when scripts/fetch-kernel.sh has not run. */
export function findKernel(): { dir: string; vmlinuz: string; config: string; version: string } | null {
  let dir = path.join(cacheRoot(), "kernel", "current");
  if (!existsSync(dir)) return null;
  try {
    if (statSync(dir).isFile()) dir = path.resolve(path.dirname(dir), readFileSync(dir, "utf8").trim());
    dir = realpathSync(dir);
  } catch {
    return null;
  }
  const vmlinuz = path.join(dir, "vmlinuz");
  if (!existsSync(vmlinuz)) return null;
  return { dir, vmlinuz, config: path.join(dir, "config"), version: path.basename(dir) };
}

function onPath(cmd: string): string | null {
  for (const d of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const p = path.join(d || ".", cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** The QEMU binary (`$UBPF_QEMU` or qemu-system-x86_64 on PATH), or null. */
export function findQemu(): string | null {
  return process.env.UBPF_QEMU || onPath("qemu-system-x86_64");
}

/** True when `file` is an ELF executable without a PT_INTERP header (statically linked). */
function isStaticElf(file: string): boolean {
  const b = readFileSync(file);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/** A statically linked busybox (`$UBPF_BUSYBOX`, /bin/busybox from busybox-static), or null. */
export function findBusybox(): string | null {
  const candidates = [process.env.UBPF_BUSYBOX, "/bin/busybox", "/usr/bin/busybox", onPath("busybox"), path.join(cacheRoot(), "vm", "busybox")];
  for (const c of candidates) {
    if (c && existsSync(c) && isStaticElf(c)) return c;
  }
  return null;
}

/** Whether a VM can be booted here, and if not, why (with the command that fixes it). */
export function vmAvailability(): { ok: true } | { ok: false; kind: VmErrorKind; reason: string } {
  if (!findKernel())
    return {
      ok: false,
      kind: "kernel-missing",
      reason: `no kernel in ${path.join(cacheRoot(), "kernel", "current")}: run \`uringbpf vm setup\``,
    };
  if (!findQemu())
    return {
      ok: false,
      kind: "qemu-missing",
      reason: "qemu-system-x86_64 not found: run `uringbpf vm setup` (installs qemu-system-x86 as root, else names the package to install)",
    };
  if (!findBusybox())
    return {
      ok: false,
      kind: "busybox-missing",
      reason: "no statically linked busybox: run `uringbpf vm setup` (fetches busybox-static into the cache)",
    };
  return { ok: true };
}

// --- the initramfs -----------------------------------------------------------------------------------

const CASE_ID = /^[A-Za-z0-9_.:-]+$/;

function guestPathOf(p: string): string {
  return p.startsWith("/") ? p : `/work/${p}`;
}

function fileEntry(f: VmFile): InitramfsEntry {
  let data: Uint8Array | string;
  let mode = f.mode;
  if (f.data !== undefined) data = f.data;
  else if (f.hostPath) {
    data = readFileSync(f.hostPath);
    if (mode === undefined) mode = statSync(f.hostPath).mode & 0o111 ? 0o755 : 0o644;
  } else throw new VmError("bad-case", `VM file ${f.guestPath}: neither data nor hostPath given`);
  return { kind: "file", path: guestPathOf(f.guestPath), data, mode: mode ?? 0o644 };
}

/** Single-quotes `s` for sh. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The generated /init script. Exposed for tests and debugging. */
export function initScript(cases: VmCase[]): string {
  const lines = [
    "#!/bin/busybox sh",
    "/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin /usr/local/bin /work",
    "/bin/busybox --install -s",
    "export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin HOME=/work",
    "mount -t proc proc /proc",
    "mount -t sysfs sysfs /sys",
    "mount -t devtmpfs devtmpfs /dev 2>/dev/null",
    "mount -t tmpfs tmpfs /tmp",
    "mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null",
    "mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null",
    "mount -t bpf bpf /sys/fs/bpf 2>/dev/null",
    "echo 1 > /proc/sys/kernel/printk 2>/dev/null",
    "ulimit -l unlimited 2>/dev/null",
    "ulimit -c 0 2>/dev/null",
    // emit LINE-FILE: write the whole file to the console in one write(2)
    "emit() { dd if=\"$1\" of=/dev/console bs=$(stat -c %s \"$1\") count=1 2>/dev/null; }",
    "uptime_cs() { read up rest < /proc/uptime; echo \"${up%.*}${up#*.}\"; }",
    "echo '@@UBPF-START'",
  ];
  cases.forEach((c, i) => {
    const t = Math.max(1, Math.ceil(c.timeoutSec ?? 120));
    lines.push(
      `printf '\\n@@UBPF-BEGIN %s\\n' ${shQuote(c.id)} > /tmp/.ubpf-line; emit /tmp/.ubpf-line`,
      "t0=$(uptime_cs)",
      `(cd /work && UBPF_CASE=${shQuote(c.id)} timeout -s KILL ${t} sh /ubpf/case-${i}.sh) </dev/null >/tmp/.ubpf-out 2>&1`,
      "rc=$?",
      "t1=$(uptime_cs)",
      `{ printf '\\n@@UBPF %s %s %s ' ${shQuote(c.id)} "$rc" "$((t1 - t0))"; base64 -w 0 /tmp/.ubpf-out; printf '\\n'; } > /tmp/.ubpf-line`,
      "emit /tmp/.ubpf-line",
    );
  });
  // The serial console may still be sending the last lines when poweroff's own kernel message comes:
  // give it time to drain, or that message lands inside a result line (seen with long last outputs).
  lines.push("printf '\\n@@UBPF-DONE\\n' > /tmp/.ubpf-line; emit /tmp/.ubpf-line", "sync", "sleep 2", "poweroff -f", "");
  return lines.join("\n");
}

function listLoaders(): VmFile[] {
  const bin = path.join(cacheRoot(), "bin");
  if (!existsSync(bin)) return [];
  const out: VmFile[] = [];
  for (const name of readdirSync(bin)) {
    const p = path.join(bin, name);
    const st = statSync(p);
    // the sanitizer build of the loader is dynamically linked against the host's libraries: host only
    if (name.endsWith("-asan")) continue;
    if (st.isFile() && st.mode & 0o111) out.push({ guestPath: `/usr/local/bin/${name}`, hostPath: p, mode: 0o755 });
  }
  return out;
}

/** Builds the gzip'd initramfs for `cases` (busybox, loaders, files, /init, case scripts). */
export function buildVmInitramfs(cases: VmCase[], opts: Pick<VmOptions, "files" | "includeLoaders"> = {}): Buffer {
  const busybox = findBusybox();
  if (!busybox) throw new VmError("busybox-missing", (vmAvailability() as { reason: string }).reason);
  const entries: InitramfsEntry[] = [
    { kind: "dir", path: "/bin" },
    { kind: "dir", path: "/dev" },
    { kind: "chardev", path: "/dev/console", major: 5, minor: 1, mode: 0o600 },
    { kind: "chardev", path: "/dev/null", major: 1, minor: 3, mode: 0o666 },
    { kind: "file", path: "/bin/busybox", data: readFileSync(busybox), mode: 0o755 },
    { kind: "symlink", path: "/bin/sh", target: "busybox" },
    { kind: "file", path: "/init", data: initScript(cases), mode: 0o755 },
    { kind: "dir", path: "/work" },
  ];
  cases.forEach((c, i) => entries.push({ kind: "file", path: `/ubpf/case-${i}.sh`, data: c.command + "\n", mode: 0o644 }));
  const files = [...(opts.includeLoaders === false ? [] : listLoaders()), ...(opts.files ?? []), ...cases.flatMap((c) => c.files ?? [])];
  const seen = new Set(entries.map((e) => e.path));
  for (const f of files) {
    const e = fileEntry(f);
    if (seen.has(e.path)) continue; // first one wins (shared files listed by several cases)
    seen.add(e.path);
    entries.push(e);
  }
  return buildInitramfs(withParentDirs(entries));
}

// --- running -----------------------------------------------------------------------------------------

const RESULT_LINE = /@@UBPF (\S+) (-?\d+) (\d+) ([A-Za-z0-9+/=]*)\s*$/;

/** Parses the console output into case results (later lines for the same id win). */
export function parseConsole(text: string): { results: Map<string, VmCaseResult>; done: boolean; current?: string } {
  const results = new Map<string, VmCaseResult>();
  let done = false;
  let current: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r/g, "");
    const m = RESULT_LINE.exec(line);
    if (m) {
      const bytes = Buffer.from(m[4], "base64");
      const exitCode = Number(m[2]);
      const elapsedMs = Number(m[3]) * 10;
      results.set(m[1], { id: m[1], exitCode, output: bytes.toString("utf8"), outputBytes: bytes, elapsedMs, timedOut: false });
      current = undefined;
      continue;
    }
    const b = /@@UBPF-BEGIN (\S+)/.exec(line);
    if (b) current = b[1];
    if (line.includes("@@UBPF-DONE")) done = true;
  }
  return { results, done, current };
}

/**
 * Boots the VM once and runs `cases` in order. Throws `VmError` when the kernel, QEMU or busybox is
 * missing, on a boot timeout (with the last 30 console lines) or when a case's result line is missing.
 */
export async function runInVm(cases: VmCase[], opts: VmOptions = {}): Promise<VmRunResult> {
  for (const c of cases) {
    if (!CASE_ID.test(c.id)) throw new VmError("bad-case", `VM case id '${c.id}' must match ${CASE_ID}`);
  }
  if (new Set(cases.map((c) => c.id)).size !== cases.length) throw new VmError("bad-case", "VM case ids must be unique");
  const avail = vmAvailability();
  let kernel = findKernel();
  if (opts.kernelDir) {
    const vmlinuz = path.join(opts.kernelDir, "vmlinuz");
    if (!existsSync(vmlinuz)) throw new VmError("kernel-missing", `no vmlinuz in ${opts.kernelDir}`);
    kernel = { dir: opts.kernelDir, vmlinuz, config: path.join(opts.kernelDir, "config"), version: path.basename(opts.kernelDir) };
  } else if (!avail.ok && avail.kind === "kernel-missing") throw new VmError(avail.kind, avail.reason);
  if (!avail.ok && avail.kind !== "kernel-missing") throw new VmError(avail.kind, avail.reason);
  const qemu = findQemu()!;

  const tmp = mkdtempSync(path.join(tmpdir(), "uringbpf-vm-"));
  const initrd = path.join(tmp, "init.cpio.gz");
  writeFileSync(initrd, buildVmInitramfs(cases, opts));
  const consoleLogPath = path.join(tmp, "console.log");
  const log = createWriteStream(consoleLogPath);

  const accel = opts.kvm ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg", "-cpu", "max", ...(opts.icount ? ["-icount", "shift=0,sleep=off"] : [])];
  const append = ["console=ttyS0", "rdinit=/init", "quiet", "loglevel=0", "panic=-1", opts.append ?? ""].join(" ").trim();
  const args = [
    ...accel,
    "-m", String(opts.memoryMb ?? 1024),
    "-smp", "1",
    "-nographic",
    "-no-reboot",
    "-nic", "none",
    "-kernel", kernel!.vmlinuz,
    "-initrd", initrd,
    "-append", append,
  ];
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const started = Date.now();
  const chunks: Buffer[] = [];
  let pending = "";

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean; spawnError?: Error }>(
    (resolve) => {
      const child = spawn(qemu, args, { stdio: ["ignore", "pipe", "pipe"] });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, timeoutMs);
      const onData = (d: Buffer) => {
        chunks.push(d);
        log.write(d);
        if (opts.onConsoleLine) {
          pending += d.toString("latin1");
          const parts = pending.split("\n");
          pending = parts.pop()!;
          for (const p of parts) opts.onConsoleLine(p.replace(/\r$/, ""));
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("error", (err) => {
        clearTimeout(timer);
        resolve({ code: null, signal: null, timedOut, spawnError: err });
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, timedOut });
      });
    },
  );
  await new Promise<void>((r) => log.end(r));
  const wallMs = Date.now() - started;
  const text = Buffer.concat(chunks).toString("latin1");
  const tail = () =>
    text
      .replace(/\r/g, "")
      .split("\n")
      .slice(-30)
      .map((l) => (l.length > 300 ? l.slice(0, 300) + "…" : l))
      .join("\n");
  const where = `console log: ${consoleLogPath}`;

  if (exit.spawnError) throw new VmError("qemu-missing", `cannot start ${qemu}: ${exit.spawnError.message}`, consoleLogPath);
  const parsed = parseConsole(text);
  if (exit.timedOut) {
    const during = parsed.current ? ` while running case '${parsed.current}'` : parsed.results.size ? "" : " (before any case finished)";
    throw new VmError(
      "boot-timeout",
      `VM did not finish within ${Math.round(timeoutMs / 1000)} s${during}; QEMU killed. Last 30 console lines:\n${tail()}\n${where}`,
      consoleLogPath,
    );
  }
  const results: VmCaseResult[] = [];
  const missing: string[] = [];
  for (const c of cases) {
    const r = parsed.results.get(c.id);
    if (!r) {
      missing.push(c.id);
      continue;
    }
    const limitMs = Math.max(1, Math.ceil(c.timeoutSec ?? 120)) * 1000;
    r.timedOut = r.exitCode === 137 && r.elapsedMs >= limitMs - 20;
    results.push(r);
  }
  if (missing.length) {
    throw new VmError(
      exit.code === 0 ? "case-missing" : "qemu-failed",
      `VM exited (code ${exit.code}${exit.signal ? `, signal ${exit.signal}` : ""}) without results for case(s) ${missing.join(", ")}` +
        `${parsed.done ? "" : " and without @@UBPF-DONE"}. Last 30 console lines:\n${tail()}\n${where}`,
      consoleLogPath,
    );
  }
  if (!opts.keepTemp) rmSync(initrd, { force: true });
  return { cases: results, byId: new Map(results.map((r) => [r.id, r])), wallMs, consoleLogPath, kernelVersion: kernel!.version };
}
