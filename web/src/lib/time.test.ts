import { describe, expect, it } from "vitest";
import { formatAxisTime } from "./time";

const local = (...a: [number, number, number, number, number]) => new Date(...a).getTime() / 1000;

describe("formatAxisTime", () => {
  it("labels ticks in 24-hour local time, never with AM/PM", () => {
    expect(formatAxisTime(local(2026, 11, 4, 14, 0))).toBe("14:00");
    expect(formatAxisTime(local(2026, 11, 4, 21, 30))).toBe("21:30");
    expect(formatAxisTime(local(2026, 11, 4, 9, 5))).toBe("09:05");
  });

  it("labels local midnight with the date, where the day changes", () => {
    expect(formatAxisTime(local(2026, 11, 5, 0, 0))).toBe("12-05");
  });
});
