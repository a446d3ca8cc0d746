import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Drawer } from "./Drawer";
import { ConfirmDialog } from "./ConfirmDialog";

const locked = () => document.documentElement.style.overflow === "hidden" && document.body.style.overflow === "hidden";

describe("overlays lock the page's scrolling (no scroll-through behind a drawer or dialog)", () => {
  it("locks while a drawer is open, keeps the lock under a nested confirmation, and restores the page's own overflow", () => {
    document.documentElement.style.overflow = "clip";
    const drawer = render(
      <Drawer title="Why not trading" onClose={() => {}}>
        body
      </Drawer>,
    );
    expect(locked()).toBe(true);
    const confirm = render(<ConfirmDialog title="Kill and flatten" consequences="x" confirmLabel="Kill" onConfirm={() => {}} onCancel={() => {}} />);
    expect(locked()).toBe(true);
    confirm.unmount();
    // The drawer is still open: still locked.
    expect(locked()).toBe(true);
    drawer.unmount();
    expect(document.documentElement.style.overflow).toBe("clip");
    expect(document.body.style.overflow).toBe("");
    document.documentElement.style.overflow = "";
  });

  it("closes on the backdrop, not on a click inside the panel", async () => {
    const onClose = vi.fn();
    const user = userEvent.setup({ delay: null });
    render(
      <Drawer title="Polygon usage events" onClose={onClose}>
        <p>inside</p>
      </Drawer>,
    );
    await user.click(screen.getByText("inside"));
    expect(onClose).not.toHaveBeenCalled();
    await user.click(screen.getByTestId("drawer-backdrop"));
    expect(onClose).toHaveBeenCalledTimes(1);
  });
});
