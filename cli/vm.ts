// `uringbpf vm setup` and `uringbpf vm status`: what `run --vm` (and `run` on a kernel without io_uring BPF
// ops) needs, in the per-user cache (runtime/cache.ts): QEMU (installed with apt as root, else the package
// to install is named), a Debian 7.x kernel with CONFIG_IO_URING_BPF_OPS (scripts/fetch-kernel.sh, through
// a private apt configuration), a static busybox for the guest (the host's, else fetched into the cache)
// and the static loader (the package's prebuilt one copied into the cache; in a checkout built by
// scripts/deps.sh). Setup is idempotent: what is there is kept, and a second run only checks.
// The repository's `npm test` (scripts/test.sh) runs the same command.

import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Command } from "commander";
import { packageRoot } from "../compiler/paths";
import { cacheRoot, isCheckout } from "../runtime/cache";
import { platformTag } from "../runtime/addon/load";
import { findBusybox, findKernel, findQemu } from "../runtime/vm/vm";

interface Part {
  name: string;
  ok: boolean;
  /** Where it is, or what is missing and how to get it. */
  detail: string;
}

function loaderFile(): string {
  return path.join(cacheRoot(), "bin", "uringbpf-loader");
}

function prebuiltLoader(): string {
  return path.join(packageRoot(), "prebuilt", platformTag(), "uringbpf-loader");
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => d && fs.existsSync(path.join(d, cmd)));
}

/** The package that provides QEMU's x86-64 system emulator, by distribution family. */
const QEMU_HINT = "install QEMU: apt-get install qemu-system-x86 (Debian, Ubuntu), dnf install qemu-system-x86 (Fedora), pacman -S qemu-system-x86 (Arch)";

/** What the VM needs and whether it is there. */
export function vmParts(): Part[] {
  const kernel = findKernel();
  const qemu = findQemu();
  const busybox = findBusybox();
  const loader = loaderFile();
  const loaderOk = fs.existsSync(loader);
  return [
    { name: "qemu", ok: !!qemu, detail: qemu ?? `qemu-system-x86_64 not found: ${QEMU_HINT}` },
    { name: "kernel", ok: !!kernel, detail: kernel ? `${kernel.version} (${kernel.dir})` : `none in ${path.join(cacheRoot(), "kernel")}` },
    { name: "busybox", ok: !!busybox, detail: busybox ?? "no statically linked busybox" },
    { name: "loader", ok: loaderOk, detail: loaderOk ? loader : `${loader} missing` },
  ];
}

/** Runs a command, streaming its output with a prefix (the progress of a long step); resolves to its status. */
function stream(cmd: string, args: string[], env: NodeJS.ProcessEnv, prefix: string): Promise<{ code: number; lastLine: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let last = "";
    const relay = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line.trim()) continue;
        last = line.trim();
        process.stderr.write(`${prefix}${line}\n`);
      }
    };
    child.stdout.on("data", relay);
    child.stderr.on("data", relay);
    child.on("error", (e) => resolve({ code: 127, lastLine: e.message }));
    child.on("close", (code) => resolve({ code: code ?? 1, lastLine: last }));
  });
}

const say = (s: string) => process.stderr.write(`vm setup: ${s}\n`);

async function setupQemu(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (findQemu()) return true;
  if (process.getuid?.() === 0 && onPath("apt-get")) {
    say("installing qemu-system-x86 with apt-get (as root)");
    const r = await stream("sh", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86"], env, "  apt: ");
    if (r.code === 0 && findQemu()) return true;
    say("apt-get could not install qemu-system-x86");
  }
  say(QEMU_HINT + (process.getuid?.() === 0 ? "" : " (as root; setup installs it itself when run as root on Debian or Ubuntu)"));
  return false;
}

async function setupKernel(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (findKernel()) return true;
  if (!onPath("apt-get") || !onPath("dpkg-deb")) {
    say(
      "the 7.x kernel comes from Debian's archive through apt-get and dpkg-deb, which this system lacks: put a kernel with " +
        `CONFIG_IO_URING_BPF_OPS=y as ${path.join(cacheRoot(), "kernel", "VERSION", "{vmlinuz,config}")} and link ${path.join(cacheRoot(), "kernel", "current")} to it`,
    );
    return false;
  }
  say("fetching a Linux 7.x kernel with io_uring BPF ops (Debian's cloud kernel, about 15 MB)");
  const r = await stream("bash", [path.join(packageRoot(), "scripts", "fetch-kernel.sh"), "--no-host"], env, "  ");
  if (r.code !== 0 || !findKernel()) {
    say(`fetching the kernel failed${r.lastLine ? ` (${r.lastLine})` : ""}`);
    return false;
  }
  return true;
}

async function setupBusybox(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (findBusybox()) return true;
  if (!onPath("apt-get") || !onPath("dpkg-deb")) {
    say("no statically linked busybox: install busybox-static (Debian, Ubuntu) or busybox (static builds elsewhere), or set UBPF_BUSYBOX to one");
    return false;
  }
  say("fetching a static busybox for the guest (busybox-static)");
  const r = await stream("bash", [path.join(packageRoot(), "scripts", "fetch-kernel.sh"), "--busybox"], env, "  ");
  return r.code === 0 && !!findBusybox();
}

async function setupLoader(env: NodeJS.ProcessEnv): Promise<boolean> {
  const dest = loaderFile();
  const pre = prebuiltLoader();
  if (isCheckout()) {
    // A checkout builds its loader from runtime/loader/loader.c (libbpf from Debian, scripts/deps.sh).
    if (fs.existsSync(dest)) return true;
    say("building the loader (bash scripts/deps.sh build)");
    const r = await stream("bash", [path.join(packageRoot(), "scripts", "deps.sh"), "build"], env, "  ");
    return r.code === 0 && fs.existsSync(dest);
  }
  if (!fs.existsSync(pre)) {
    say(`this package has no prebuilt loader for ${platformTag()} (the VM path needs x86-64 Linux)`);
    return false;
  }
  const same = fs.existsSync(dest) && fs.readFileSync(dest).equals(fs.readFileSync(pre));
  if (same) return true;
  say(`installing the package's loader into ${dest}`);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.tmp`;
  fs.copyFileSync(pre, tmp);
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, dest);
  return true;
}

function printStatus(parts: Part[], json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ cache: cacheRoot(), ready: parts.every((p) => p.ok), parts }) + "\n");
    return;
  }
  process.stdout.write(`cache: ${cacheRoot()}\n`);
  for (const p of parts) process.stdout.write(`${p.name.padEnd(8)}${p.ok ? "ok      " : "MISSING "}${p.detail}\n`);
  process.stdout.write(parts.every((p) => p.ok) ? "ready: `uringbpf run --vm` can boot the VM\n" : "not ready: run `uringbpf vm setup`\n");
}

/** Adds `vm setup` and `vm status` to the CLI. */
export function registerVm(program: Command, setExit: (code: number) => void): void {
  const vm = program.command("vm").description("the QEMU VM with a Linux 7.x kernel that runs programs when the host kernel lacks io_uring BPF ops");
  vm.command("status")
    .description("say what the VM needs and what is in the cache")
    .option("--json", "one JSON line")
    .addHelpText("after", "\nExit status: 0 when everything is there, 1 when something is missing.")
    .action((o: { json?: boolean }) => {
      const parts = vmParts();
      printStatus(parts, !!o.json);
      setExit(parts.every((p) => p.ok) ? 0 : 1);
    });
  vm.command("setup")
    .description("fetch what the VM needs into the per-user cache: QEMU (or the package to install), the 7.x kernel, a static busybox, the loader")
    .addHelpText(
      "after",
      "\nIdempotent: what is present is kept. The cache is $UBPF_CACHE, a checkout's .cache/uringbpf, else\n" +
        "$XDG_CACHE_HOME/uringbpf (~/.cache/uringbpf). Packages come from Debian's archive through a private apt\n" +
        "configuration taken from this machine's apt sources; nothing is installed into the system except QEMU\n" +
        "(only when run as root).\n\nExit status: 0 when the VM is ready, 1 when something is still missing (said above).",
    )
    .action(async () => {
      const env = { ...process.env, UBPF_CACHE: cacheRoot() };
      fs.mkdirSync(cacheRoot(), { recursive: true });
      say(`cache ${cacheRoot()}`);
      const steps: [string, (env: NodeJS.ProcessEnv) => Promise<boolean>][] = [
        ["qemu", setupQemu],
        ["kernel", setupKernel],
        ["busybox", setupBusybox],
        ["loader", setupLoader],
      ];
      let n = 0;
      for (const [name, step] of steps) {
        n++;
        say(`[${n}/${steps.length}] ${name}`);
        let ok = false;
        try {
          ok = await step(env);
        } catch (e) {
          say(`${name}: ${(e as Error).message}`);
        }
        const part = vmParts().find((p) => p.name === name)!;
        say(`[${n}/${steps.length}] ${name}: ${ok && part.ok ? `ok, ${part.detail}` : "MISSING"}`);
      }
      const parts = vmParts();
      printStatus(parts, false);
      setExit(parts.every((p) => p.ok) ? 0 : 1);
    });
}
