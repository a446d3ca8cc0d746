import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import { LogOut } from "lucide-react";
import { api, unwrap } from "../../api/client";
import { Button } from "../../components/Button";
import { useMe } from "../../queries/auth";
import { TwoFactorSection } from "../settings/TwoFactorSection";

/**
 * The one page an admin or operator without 2FA can use (the server answers everything else
 * TWO_FACTOR_REQUIRED): enroll, save the backup codes, then continue.
 */
export function EnrollmentGate({ onContinue }: { onContinue: () => void }) {
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
  const enrolled = me.data?.two_factor_enrollment_required === false;
  return (
    <main className="mx-auto flex min-h-screen max-w-xl flex-col gap-4 p-8" data-testid="enrollment-gate">
      <h1 className="text-lg font-semibold">Two-factor authentication required</h1>
      <p className="text-sm text-muted">
        Your role ({me.data?.user.role}) can act on bots, users and money, so it needs a second factor. Until you enroll an
        authenticator app, every other page and action is refused.
      </p>
      <TwoFactorSection />
      <div className="flex items-center gap-2">
        <Button disabled={!enrolled} onClick={onContinue}>
          Continue to the Observatory
        </Button>
        <Button variant="ghost" onClick={() => logout.mutate()} aria-label="Sign out">
          <LogOut size={14} /> Sign out
        </Button>
      </div>
    </main>
  );
}
