import { Link } from "@tanstack/react-router";
import { useBotName } from "../queries/botNames";
import { cn } from "../lib/cn";

/**
 * A bot by its name, linking to its page, with the full id on hover (and copied with the
 * name's link). Until the name is known it shows the id's first characters, marked as an id.
 */
export function BotName({ id, className }: { id: string; className?: string }) {
  const name = useBotName(id);
  return (
    <Link to="/bots/$botId" params={{ botId: id }} title={`Bot id ${id}`} data-bot-id={id} className={cn("text-accent hover:underline", !name && "font-mono", className)}>
      {name ?? `${id.slice(0, 8)}…`}
    </Link>
  );
}
