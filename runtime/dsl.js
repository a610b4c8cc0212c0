// What `require("uringbpf")` / `import ... from "uringbpf"` gives at run time. The DSL's names
// (runtime/index.d.ts) are types for the editor and the type checker; they have no JavaScript meaning.
"use strict";
throw new Error(
  "uringbpf: a loop_step program is not run by Node: compile it with `npx uringbpf build prog.ts` (then " +
    "`uringbpf run`); the compiler's API is `require(\"uringbpf/compiler\")` / `import ... from \"uringbpf/compiler\"`",
);
