import { useEffect, useState } from "react";
import { Check, Copy } from "lucide-react";
import { Button } from "../../components/Button";

/** Copies `text` to the clipboard (falls back to a selection copy where the API is refused). */
export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const el = document.createElement("textarea");
    el.value = text;
    document.body.appendChild(el);
    el.select();
    document.execCommand("copy");
    el.remove();
  }
}

/** A small "Copy" button that says "Copied" for a moment after a copy. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const id = setTimeout(() => setCopied(false), 1500);
    return () => clearTimeout(id);
  }, [copied]);
  return (
    <Button
      size="sm"
      aria-label={label}
      onClick={() => {
        void copyText(text).then(() => setCopied(true));
      }}
    >
      {copied ? <Check size={12} aria-hidden /> : <Copy size={12} aria-hidden />}
      {copied ? "Copied" : "Copy"}
    </Button>
  );
}
