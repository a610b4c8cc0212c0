// Whether this run can use the VM and the native loader for kernel tests. Under CI a missing piece is a
// failure, never a silent skip: the kernel is the judge of every program these tests build.
import * as fs from "fs";
import * as path from "path";
import { vmAvailability } from "../../runtime/vm/vm";

const root = path.join(__dirname, "..", "..");

/** True when the kernel tests of `what` can run; throws under CI when they cannot, warns otherwise. */
export function kernelTestsCanRun(what: string): boolean {
  const avail = vmAvailability();
  const loaderBuilt = fs.existsSync(path.join(root, ".cache", "uringbpf", "bin", "uringbpf-loader"));
  if (avail.ok && loaderBuilt) return true;
  const why = !avail.ok ? avail.reason : "the loader is not built (run bash scripts/deps.sh build)";
  if (process.env.CI) throw new Error(`${what} cannot run under CI: ${why}`);
  console.warn(`skipping ${what}: ${why}`);
  return false;
}
