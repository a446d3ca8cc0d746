import { useState } from "react";
import { Download, KeyRound } from "lucide-react";
import { Button } from "../../components/Button";
import { CopyButton } from "./CopyButton";
import { LeaveGuard } from "./LeaveGuard";

/**
 * Backup codes, shown once: a list, copy / download, and a required "I saved them" tick before
 * Done. Leaving the page (or the section) before that asks first, because the codes cannot be
 * shown again — only replaced.
 */
export function BackupCodesPanel({ codes, title, otherSessions, onDone }: {
  codes: string[];
  title: string;
  otherSessions?: number;
  onDone: () => void;
}) {
  const [saved, setSaved] = useState(false);
  const text = codes.join("\n");
  const download = () => {
    const url = URL.createObjectURL(new Blob([`tradeplane backup codes (each works once)\n\n${text}\n`], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "tradeplane-backup-codes.txt";
    a.click();
    URL.revokeObjectURL(url);
  };
  return (
    <div className="flex flex-col gap-3" data-testid="backup-codes-panel">
      <div className="flex items-center gap-2">
        <KeyRound size={16} className="text-warn" aria-hidden />
        <h3 className="text-sm font-semibold">{title}</h3>
      </div>
      <p className="text-sm text-muted">
        Each code signs you in once if you lose your authenticator. They are shown <strong className="text-fg">only now</strong>:
        store them in a password manager or print them. Any earlier backup codes no longer work.
      </p>
      <ul aria-label="Backup codes" className="grid grid-cols-2 gap-2 rounded-md border border-line bg-surface-2 p-3 font-mono text-sm sm:grid-cols-2">
        {codes.map((c) => (
          <li key={c} className="select-all">{c}</li>
        ))}
      </ul>
      <div className="flex flex-wrap gap-2">
        <CopyButton text={text} label="Copy all codes" />
        <Button size="sm" onClick={download}>
          <Download size={12} aria-hidden /> Download .txt
        </Button>
      </div>
      {otherSessions != null && otherSessions > 0 && (
        <p className="text-sm text-warn">
          You have {otherSessions} other signed-in session{otherSessions === 1 ? "" : "s"} that did not prove the new factor.
          Review them under Sessions once you are done here.
        </p>
      )}
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} />
        I saved them
      </label>
      <div>
        <Button variant="primary" disabledReason={saved ? null : "Tick \u201cI saved them\u201d first: these codes are not shown again."} onClick={onDone}>
          Done
        </Button>
      </div>
      <LeaveGuard active={!saved} title="Leave without saving backup codes?">
        These codes will not be shown again. If you leave now and lose your authenticator, you will need new codes
        (Settings → Two-factor → Regenerate, with your password) or an admin to reset your 2FA.
      </LeaveGuard>
    </div>
  );
}
