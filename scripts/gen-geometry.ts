// Writes runtime/loader/geometry.h (the ring-geometry globals for the native loader) from the one table in
// compiler/contract/geometry.ts. `--check` exits 1 if the header is out of date (run in CI by scripts/test.sh).
import * as fs from "fs";
import * as path from "path";
import { geometryHeader } from "../compiler/contract/geometry";

export const headerPath = path.join(__dirname, "..", "runtime", "loader", "geometry.h");

function main(): void {
  const next = geometryHeader();
  const cur = fs.existsSync(headerPath) ? fs.readFileSync(headerPath, "utf8") : "";
  if (process.argv.includes("--check")) {
    if (cur !== next) {
      console.error("runtime/loader/geometry.h is out of date: run `npx tsx scripts/gen-geometry.ts`");
      process.exit(1);
    }
    return;
  }
  const tmp = `${headerPath}.tmp${process.pid}`;
  fs.writeFileSync(tmp, next);
  fs.renameSync(tmp, headerPath);
}

if (require.main === module) main();
