import { useState } from "react";
import { ChevronLeft, ChevronRight } from "lucide-react";
import { Button } from "../../components/Button";

/** Cursor paging kept in component state: the cursors of the pages before this one. */
export function useCursor() {
  const [stack, setStack] = useState<(string | undefined)[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  return {
    cursor,
    first: stack.length === 0 && cursor === undefined,
    next: (c: string) => {
      setStack([...stack, cursor]);
      setCursor(c);
    },
    previous: () => {
      setCursor(stack[stack.length - 1]);
      setStack(stack.slice(0, -1));
    },
  };
}

export function Pager({ label, first, nextCursor, onNext, onPrevious }: {
  label: string;
  first: boolean;
  nextCursor: string | null | undefined;
  onNext: (cursor: string) => void;
  onPrevious: () => void;
}) {
  if (first && !nextCursor) return null;
  return (
    <nav aria-label={`${label} pages`} className="mt-3 flex items-center gap-2">
      <Button size="sm" disabledReason={first ? "This is the newest page." : null} onClick={onPrevious}>
        <ChevronLeft size={14} aria-hidden /> Newer
      </Button>
      <Button size="sm" disabledReason={nextCursor ? null : "No older items."} onClick={() => nextCursor && onNext(nextCursor)}>
        Older <ChevronRight size={14} aria-hidden />
      </Button>
    </nav>
  );
}
