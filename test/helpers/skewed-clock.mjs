// Preload (`node --import`) shifting this process's wall clock by JITGATE_TEST_CLOCK_SKEW_MS, as
// on a host whose clock is off: Date.now() and `new Date()` both move.
const skew = Number(process.env.JITGATE_TEST_CLOCK_SKEW_MS ?? 0);
if (skew !== 0) {
  const Real = Date;
  const realNow = Real.now.bind(Real);
  class Skewed extends Real {
    constructor(...args) {
      if (args.length === 0) super(realNow() + skew);
      else super(...args);
    }
    static now() { return realNow() + skew; }
  }
  globalThis.Date = Skewed;
}
