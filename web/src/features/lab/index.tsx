// The Strategy Lab (lazy route chunk): runs, results, sweeps, comparisons.
export { LabPage } from "./LabPage";
export { BacktestPage } from "./BacktestPage";
export { SweepPage } from "./SweepPage";
export { ComparePage } from "./ComparePage";
