// A loop_step program whose loop never ends at run time (x stays odd) though the compiler cannot tell:
// only the loop's budget (or, for a hostile copy without the may_goto, the run's --timeout) stops it.
export const ENDLESS = `import { loopStep, u32, STOP } from "uringbpf";
export let x: u32 = 1;
export let after: u32 = 0;
export const p = loopStep((ring, lp) => {
  while (x !== 0) {
    x += 2;
  }
  after = 1;
  return STOP;
});
`;
/** The line of the loop's header in ENDLESS. */
export const ENDLESS_LINE = 5;
