// "Edit" on the bot page: operator or admin; disabled with the reason otherwise.
import { useState } from "react";
import { Pencil } from "lucide-react";
import { Button } from "../../components/Button";
import { useRoleGate } from "../../lib/roleGate";
import type { Bot } from "../../queries/bots";
import { EditBotForm } from "./EditBotForm";

export function EditBotButton({ bot, onSaved }: { bot: Bot; onSaved: (message: string) => void }) {
  const gate = useRoleGate("Editing a bot", "operator", ["/api/bots/{id}"]);
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button size="sm" disabledReason={gate} onClick={() => setOpen(true)}>
        <Pencil size={14} aria-hidden /> Edit
      </Button>
      {gate && <span className="text-xs text-muted" data-testid="edit-disabled-reason">{gate}</span>}
      {open && <EditBotForm bot={bot} onClose={() => setOpen(false)} onSaved={onSaved} />}
    </>
  );
}
