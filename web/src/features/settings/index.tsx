import { Link, useSearch } from "@tanstack/react-router";
import { BellRing, KeyRound, Lock, MonitorSmartphone, ScrollText, ShieldCheck, Users } from "lucide-react";
import { Badge } from "../../components/Badge";
import { cn } from "../../lib/cn";
import type { SearchParams } from "../../router";
import { hasRole, useMe } from "../../queries/auth";
import { AdminOnly } from "./AdminOnly";
import { AlertsSection } from "./AlertsSection";
import { AuditSection } from "./AuditSection";
import { ServiceTokensSection } from "./ServiceTokensSection";
import { SessionsSection } from "./SessionsSection";
import { TwoFactorSection } from "./TwoFactorSection";
import { UsersSection } from "./UsersSection";
import { useTitle } from "../../lib/title";

export const SECTIONS = [
  { id: "two-factor", label: "Two-factor", icon: ShieldCheck, admin: false },
  { id: "sessions", label: "Sessions", icon: MonitorSmartphone, admin: false },
  { id: "alerts", label: "Alerts", icon: BellRing, admin: false },
  { id: "users", label: "Users & roles", icon: Users, admin: true },
  { id: "tokens", label: "Service tokens", icon: KeyRound, admin: true },
  { id: "audit", label: "Audit log", icon: ScrollText, admin: true },
] as const;
export type SectionId = (typeof SECTIONS)[number]["id"];

/** The section a `?section=` names; the first one when absent or unknown. */
export function sectionOf(raw: string | undefined): SectionId {
  return SECTIONS.find((s) => s.id === raw)?.id ?? "two-factor";
}

/** Settings: your two-factor and sessions; for admins users, service tokens and the audit log. */
export function SettingsPage() {
  useTitle("Settings");
  const search = useSearch({ strict: false }) as SearchParams;
  const me = useMe();
  const section = sectionOf(search.section);
  const admin = hasRole(me.data?.user.role, "admin");
  return (
    <div className="flex flex-col gap-4">
      <header className="flex flex-wrap items-baseline gap-3">
        <h1 className="text-xl font-semibold">Settings</h1>
        {me.data && (
          <span className="flex items-center gap-2 text-sm text-muted">
            {me.data.user.email} <Badge tone="info">{me.data.user.role}</Badge>
          </span>
        )}
      </header>
      <div className="flex flex-col gap-4 md:flex-row">
        <nav aria-label="Settings sections" className="flex shrink-0 flex-row flex-wrap gap-1 md:w-52 md:flex-col">
          {SECTIONS.map(({ id, label, icon: Icon, admin: adminOnly }) => (
            <Link
              key={id}
              to="/settings"
              search={{ section: id }}
              aria-current={section === id ? "page" : undefined}
              className={cn(
                "flex items-center gap-2 rounded-md px-3 py-1.5 text-sm",
                section === id ? "bg-surface-2 font-medium text-fg" : "text-muted hover:bg-surface-2 hover:text-fg",
              )}
            >
              <Icon size={15} aria-hidden />
              {label}
              {adminOnly && !admin && <Lock size={12} className="ml-auto" aria-label="admins only" />}
            </Link>
          ))}
        </nav>
        <div className="min-w-0 flex-1">
          <Section id={section} />
        </div>
      </div>
    </div>
  );
}

function Section({ id }: { id: SectionId }) {
  switch (id) {
    case "two-factor":
      return <TwoFactorSection />;
    case "sessions":
      return <SessionsSection />;
    case "alerts":
      return <AlertsSection />;
    case "users":
      return (
        <AdminOnly title="Users" what="users and roles">
          <UsersSection />
        </AdminOnly>
      );
    case "tokens":
      return (
        <AdminOnly title="Service tokens" what="service tokens">
          <ServiceTokensSection />
        </AdminOnly>
      );
    case "audit":
      return (
        <AdminOnly title="Audit log" what="the audit log">
          <AuditSection />
        </AdminOnly>
      );
  }
}
