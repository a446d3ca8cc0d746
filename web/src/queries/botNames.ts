// Bot names by id, for every view that holds only a bot id (events, usage, jobs): ids of bots
// created together share their first characters (UUID v7), so a name is the only readable label.
import { queryOptions, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { POLL } from "../lib/queryClient";

export const botNamesQuery = queryOptions({
  queryKey: ["/api/bots", "names"],
  queryFn: async () => {
    const page = await unwrap(api.GET("/api/bots", { params: { query: { limit: 500 } } }));
    return new Map(page.items.map((b) => [b.id, b.name]));
  },
  refetchInterval: POLL.slow,
  staleTime: POLL.normal,
});

/** The bot's name, or null while unknown (not loaded, failed, or not among the first 500). */
export function useBotName(id: string | null | undefined): string | null {
  const names = useQuery(botNamesQuery);
  return (id && names.data?.get(id)) || null;
}
