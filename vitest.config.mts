import { defineConfig } from "vitest/config";

// VM tests boot QEMU (1 GiB, one emulated CPU each); running test files one at a time keeps a 2-core
// machine from running two guests at once.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 900_000,
  },
});
