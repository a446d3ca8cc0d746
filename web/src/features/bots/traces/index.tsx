// The traces feature: "Why traded" / "Why not" viewers and the "Why not trading" drawer, mounted
// by the bot detail page (features/bots). Deep links: ?panel=traces&tab=decision|no-trade&trace=<id>
// and ?panel=why-not&trace=<id>; `trace` is a trace row id or a W3C trace id.
export { TraceViewer } from "./TraceViewer";
export { WhyNotDrawer } from "./WhyNotDrawer";
