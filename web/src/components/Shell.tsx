import { useEffect, useState } from "react";
import { Link, Outlet, useNavigate, useRouterState } from "@tanstack/react-router";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Activity, Bot, Cpu, FlaskConical, Gauge, LayoutDashboard, ListChecks, LogOut, Menu, Moon, Plug, Scale, Server, Settings, ShieldCheck, Sun, X } from "lucide-react";
import { api, unwrap } from "../api/client";
import { isApiError } from "../api/errors";
import { useMe } from "../queries/auth";
import { useSystemStatus } from "../queries/status";
import { KillSwitchControl, TradingSwitchControl } from "../features/controls/SystemSwitches";
import { currentTheme, setTheme, type Theme } from "../lib/theme";
import { queryFreshness } from "../lib/freshness";
import { useNow } from "../lib/time";
import { cn } from "../lib/cn";
import { Badge, systemStatusTone } from "./Badge";
import { Button } from "./Button";
import { DegradedBanner } from "./DegradedBanner";
import { EnrollmentGate } from "../features/auth/EnrollmentGate";

const NAV = [
  { to: "/", label: "Overview", icon: LayoutDashboard },
  { to: "/connections", label: "Connections", icon: Plug },
  { to: "/proof-of-use", label: "Proof of Use", icon: ShieldCheck },
  { to: "/events", label: "Events", icon: Activity },
  { to: "/bots", label: "Bots", icon: Bot },
  { to: "/lab", label: "Lab", icon: FlaskConical },
  { to: "/autonomy", label: "Autonomy", icon: Gauge },
  { to: "/jobs", label: "Jobs", icon: ListChecks },
  { to: "/nodes", label: "Nodes", icon: Server },
  { to: "/reconciliation", label: "Reconciliation", icon: Scale },
  { to: "/ai-ops", label: "AI Ops", icon: Cpu },
  { to: "/settings", label: "Settings", icon: Settings },
] as const;

/**
 * The status pill: the system status exactly as the server reports it, or UNKNOWN. Green only
 * while the answer is fresh: a failed refetch, or no answer within the freshness limit (network
 * paused, request hanging), turns it stale, re-checked every second without a new fetch.
 */
function StatusPill() {
  const status = useSystemStatus();
  const now = useNow(1000);
  const value = status.data?.system_status;
  const freshness = queryFreshness(status, now);
  const stale = !status.isPending && freshness.stale;
  const why = status.isError ? "Status endpoint failing" : `Status endpoint not answering (${freshness.reason ?? "no fresh answer"})`;
  return (
    <Link to="/" aria-label={`System status: ${value ?? "UNKNOWN"}${stale ? " (stale)" : ""}`} data-testid="status-pill" data-stale={stale ? "true" : "false"}>
      <Badge tone={stale ? "bad" : systemStatusTone(value)} title={stale ? `${why}: the last known value is shown` : undefined}>
        <span className="h-1.5 w-1.5 rounded-full bg-current" aria-hidden />
        {value ?? "UNKNOWN"}
        {stale && " (stale)"}
      </Badge>
    </Link>
  );
}

function ThemeToggle() {
  const [theme, set] = useState<Theme>(currentTheme);
  const next = theme === "dark" ? "light" : "dark";
  return (
    <Button variant="ghost" size="sm" aria-label={`Switch to ${next} theme`} onClick={() => { setTheme(next); set(next); }}>
      {theme === "dark" ? <Sun size={14} /> : <Moon size={14} />}
    </Button>
  );
}

function UserMenu() {
  const me = useMe();
  const client = useQueryClient();
  const navigate = useNavigate();
  const logout = useMutation({
    mutationFn: () => unwrap(api.POST("/api/auth/logout")),
    onSettled: () => {
      client.clear();
      void navigate({ to: "/login", search: {} });
    },
  });
  if (!me.data) return null;
  return (
    <div className="flex items-center gap-2 text-sm">
      <span data-testid="current-user">{me.data.user.email}</span>
      <Badge tone="info">{me.data.user.role}</Badge>
      <Button variant="ghost" size="sm" onClick={() => logout.mutate()} aria-label="Sign out">
        <LogOut size={14} /> Sign out
      </Button>
    </div>
  );
}

/** Navigation, user, status pill and kill-switch state around every signed-in page. */
export function Shell() {
  const me = useMe();
  const navigate = useNavigate();
  const location = useRouterState({ select: (s) => s.location });
  const unauth = isApiError(me.error) && me.error.unauthenticated;
  // Sticky: the gate stays until the user leaves it, so enrolling (which flips `me`) does not
  // take away the backup codes before they are saved.
  const [gated, setGated] = useState(false);
  // Below 768 px the navigation is a drawer behind the header's Menu button.
  const [navOpen, setNavOpen] = useState(false);
  const mustEnroll = me.data?.two_factor_enrollment_required === true;
  if (mustEnroll && !gated) setGated(true);
  useEffect(() => {
    if (unauth) void navigate({ to: "/login", search: { next: location.href } });
  }, [unauth, navigate, location.href]);
  if (me.isPending || unauth) return <div className="p-8 text-muted">Checking your session…</div>;
  if (gated || mustEnroll) return <EnrollmentGate onContinue={() => setGated(false)} />;
  return (
    <div className="flex min-h-screen">
      {navOpen && <div aria-hidden className="fixed inset-0 z-40 bg-black/30 md:hidden" onClick={() => setNavOpen(false)} />}
      <nav
        aria-label="Main"
        id="main-nav"
        className={cn(
          "top-0 h-screen w-52 shrink-0 flex-col gap-1 overflow-y-auto border-r border-line bg-surface p-3 md:sticky md:flex",
          navOpen ? "fixed inset-y-0 left-0 z-50 flex shadow-lg" : "hidden",
        )}
      >
        <Button variant="ghost" size="sm" className="self-end md:hidden" aria-label="Close menu" onClick={() => setNavOpen(false)}>
          <X size={14} />
        </Button>
        <div className="mb-4 px-2 text-base font-semibold tracking-tight">
          tradeplane <span className="block text-xs font-normal text-muted">Control Plane Observatory</span>
        </div>
        {NAV.map(({ to, label, icon: Icon }) => (
          <Link
            key={to}
            to={to}
            activeOptions={{ exact: to === "/" }}
            className="flex items-center gap-2 rounded-md px-2 py-1.5 text-sm text-muted hover:bg-surface-2 hover:text-fg"
            activeProps={{ className: "bg-surface-2 text-fg font-medium", "aria-current": "page" }}
            onClick={() => setNavOpen(false)}
          >
            <Icon size={15} aria-hidden /> {label}
          </Link>
        ))}
      </nav>
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="sticky top-0 z-30 border-b border-line bg-surface">
          <div className="flex flex-wrap items-center gap-3 px-4 py-2">
            <Button variant="ghost" size="sm" className="md:hidden" aria-label="Menu" aria-expanded={navOpen} aria-controls="main-nav" onClick={() => setNavOpen((o) => !o)}>
              <Menu size={14} />
            </Button>
            <StatusPill />
            <KillSwitchControl />
            <TradingSwitchControl />
            <div className="ml-auto flex items-center gap-2">
              <ThemeToggle />
              <UserMenu />
            </div>
          </div>
          <DegradedBanner />
        </header>
        <main className="mx-auto w-full min-w-0 max-w-[1400px] flex-1 p-3 md:p-4">
          <Outlet />
        </main>
      </div>
    </div>
  );
}
