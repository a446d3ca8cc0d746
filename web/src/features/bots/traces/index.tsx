import { Drawer } from "../../../components/Drawer";
import { EmptyState } from "../../../components/EmptyState";

// Scaffold: replaced by the traces feature (decision/no-trade viewers and the Why-not drawer).

/** "Why not trading": the bot's latest suppression, every blocking gate, and its history. */
export function WhyNotDrawer({ botId, onClose }: { botId: string; onClose: () => void }) {
  return (
    <Drawer title="Why not trading" onClose={onClose}>
      <EmptyState title="Why not trading" reason={`Being built (bot ${botId}).`} />
    </Drawer>
  );
}

/** Paginated decision ("Why traded") or no-trade ("Why not") traces of one bot. */
export function TraceViewer({ botId, kind }: { botId: string; kind: "decision" | "no-trade" }) {
  return <EmptyState title={kind === "decision" ? "Why traded" : "Why not"} reason={`Being built (bot ${botId}).`} />;
}
