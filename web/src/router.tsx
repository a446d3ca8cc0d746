// Code-based routes. Every page reads its own search params (deep links such as
// /bots/<id>?panel=why-not&trace=<id>), kept as plain strings.
import { createRootRoute, createRoute, createRouter, lazyRouteComponent, Outlet, type RouteComponent } from "@tanstack/react-router";
import { Shell } from "./components/Shell";
import { LoginPage } from "./features/auth/LoginPage";
import { OverviewPage } from "./features/overview";

// Login and Overview are in the first bundle; every other page (and its charts) loads on first
// visit, so the first screen stays small.
const ConnectionsPage = lazyRouteComponent(() => import("./features/connections"), "ConnectionsPage");
const ProofOfUsePage = lazyRouteComponent(() => import("./features/proof-of-use"), "ProofOfUsePage");
const EventsPage = lazyRouteComponent(() => import("./features/events"), "EventsPage");
const BotsPage = lazyRouteComponent(() => import("./features/bots"), "BotsPage");
const BotDetailPage = lazyRouteComponent(() => import("./features/bots"), "BotDetailPage");
const AutonomyPage = lazyRouteComponent(() => import("./features/autonomy"), "AutonomyPage");
const AiOpsPage = lazyRouteComponent(() => import("./features/ai-ops"), "AiOpsPage");
const JobsPage = lazyRouteComponent(() => import("./features/jobs"), "JobsPage");
const LabPage = lazyRouteComponent(() => import("./features/lab"), "LabPage");
const BacktestPage = lazyRouteComponent(() => import("./features/lab"), "BacktestPage");
const SweepPage = lazyRouteComponent(() => import("./features/lab"), "SweepPage");
const ComparePage = lazyRouteComponent(() => import("./features/lab"), "ComparePage");
const NodesPage = lazyRouteComponent(() => import("./features/nodes"), "NodesPage");
const ReconciliationPage = lazyRouteComponent(() => import("./features/reconciliation"), "ReconciliationPage");
const SettingsPage = lazyRouteComponent(() => import("./features/settings"), "SettingsPage");

export type SearchParams = Record<string, string | undefined>;

/** Keeps string-like search params as strings; drops the rest. */
export function looseSearch(raw: Record<string, unknown>): SearchParams {
  const out: SearchParams = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === "string" && v !== "") out[k] = v;
    else if (typeof v === "number" || typeof v === "boolean") out[k] = String(v);
  }
  return out;
}

const rootRoute = createRootRoute({ component: () => <Outlet /> });

const loginRoute = createRoute({ getParentRoute: () => rootRoute, path: "/login", validateSearch: looseSearch, component: LoginPage });

/** Everything behind sign-in, inside the shell. */
const appRoute = createRoute({ getParentRoute: () => rootRoute, id: "app", component: Shell });

const page = <P extends string>(path: P, component: RouteComponent) =>
  createRoute({ getParentRoute: () => appRoute, path, validateSearch: looseSearch, component });

const routeTree = rootRoute.addChildren([
  loginRoute,
  appRoute.addChildren([
    page("/", OverviewPage),
    page("/connections", ConnectionsPage),
    page("/proof-of-use", ProofOfUsePage),
    page("/events", EventsPage),
    page("/bots", BotsPage),
    page("/bots/$botId", BotDetailPage),
    page("/autonomy", AutonomyPage),
    page("/jobs", JobsPage),
    page("/lab", LabPage),
    page("/lab/backtests/$backtestId", BacktestPage),
    page("/lab/sweeps/$sweepId", SweepPage),
    page("/lab/compare", ComparePage),
    page("/nodes", NodesPage),
    page("/reconciliation", ReconciliationPage),
    page("/ai-ops", AiOpsPage),
    page("/settings", SettingsPage),
  ]),
]);

/** Plain `?a=1&b=x` query strings (every search param is a string), so deep links stay readable. */
export const plainSearch = {
  parseSearch: (query: string) => Object.fromEntries(new URLSearchParams(query.replace(/^\?/, ""))),
  stringifySearch: (search: Record<string, unknown>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(search)) if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
    const query = params.toString();
    return query ? `?${query}` : "";
  },
};

export const router = createRouter({ routeTree, defaultPreload: false, ...plainSearch });

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}
