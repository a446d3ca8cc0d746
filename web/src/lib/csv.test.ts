import { describe, expect, it } from "vitest";
import { csvField, decimalText, exportFileName, isoUtc, objectsCsv, pageAll, toCsv } from "./csv";

describe("csvField (RFC 4180 quoting)", () => {
  it("leaves plain text bare and empties null/undefined", () => {
    expect(csvField("ES")).toBe("ES");
    expect(csvField(12)).toBe("12");
    expect(csvField("-4.50")).toBe("-4.50");
    expect(csvField(null)).toBe("");
    expect(csvField(undefined)).toBe("");
    expect(csvField("")).toBe("");
  });

  it("quotes a field holding a comma, a quote, CR or LF and doubles inner quotes", () => {
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('"')).toBe('""""');
    expect(csvField("line1\nline2")).toBe('"line1\nline2"');
    expect(csvField("cr\rhere")).toBe('"cr\rhere"');
    expect(csvField(" spaced ")).toBe(" spaced ");
  });
});

describe("toCsv", () => {
  it("joins fields with commas and records with CRLF, ending with CRLF", () => {
    expect(toCsv([["a", "b"], ["1", "x,y"]])).toBe('a,b\r\n1,"x,y"\r\n');
  });
  it("gives empty text for no records", () => {
    expect(toCsv([])).toBe("");
  });
});

describe("objectsCsv, pageAll, exportFileName (the generic exports)", () => {
  it("one column per field in first-seen order; nested values as JSON; missing fields empty", () => {
    const text = objectsCsv([
      { id: "a", price: "5000.25", signals: { fast: 1 }, filled: true },
      { id: "b", price: null, extra: 'x,"y"' },
    ]);
    expect(text).toBe('id,price,signals,filled,extra\r\na,5000.25,"{""fast"":1}",true,\r\nb,,,,"x,""y"""\r\n');
    expect(objectsCsv([])).toBe("\r\n");
  });

  it("pages through every cursor until the last page, or stops at the cap", async () => {
    const pages: Record<string, { items: number[]; next_cursor: string | null }> = {
      start: { items: [1, 2], next_cursor: "c2" },
      c2: { items: [3], next_cursor: "c3" },
      c3: { items: [], next_cursor: "c4" },
    };
    const seen: (string | undefined)[] = [];
    const all = await pageAll(async (cursor) => {
      seen.push(cursor);
      return pages[cursor ?? "start"]!;
    });
    expect(all).toEqual({ items: [1, 2, 3], truncated: false });
    expect(seen).toEqual([undefined, "c2", "c3"]);
    const capped = await pageAll(async (cursor) => pages[cursor ?? "start"]!, 2);
    expect(capped).toEqual({ items: [1, 2], truncated: true });
  });

  it("file names keep only safe characters and a UTC stamp", () => {
    expect(exportFileName("es fast/slow #1", "orders", new Date("2026-12-04T10:11:12.345Z"))).toBe("es_fast_slow_1-orders-2026-12-04T101112Z.csv");
    expect(exportFileName("///", "usage-events", new Date("2026-12-04T10:11:12Z"))).toBe("export-usage-events-2026-12-04T101112Z.csv");
  });
});

describe("decimalText", () => {
  it("keeps every digit the number has and never writes exponents", () => {
    expect(decimalText(0.6379310344827587)).toBe("0.6379310344827587");
    expect(decimalText(-12.5)).toBe("-12.5");
    expect(decimalText(3)).toBe("3");
    expect(decimalText(1e-7)).toBe("0.0000001");
    expect(decimalText(-2.5e-8)).toBe("-0.000000025");
    expect(decimalText(1.5e21)).toBe("1500000000000000000000");
    expect(decimalText(1.2345e22)).toBe("12345000000000000000000");
    expect(Number(decimalText(1.23e-10))).toBe(1.23e-10);
  });

  it("leaves no value and non-finite values empty", () => {
    expect(decimalText(null)).toBe("");
    expect(decimalText(undefined)).toBe("");
    expect(decimalText(Number.NaN)).toBe("");
    expect(decimalText(Number.POSITIVE_INFINITY)).toBe("");
  });
});

describe("isoUtc", () => {
  it("keeps a UTC time as sent and converts an offset time to UTC", () => {
    expect(isoUtc("2026-12-04T13:10:27.123456Z")).toBe("2026-12-04T13:10:27.123456Z");
    expect(isoUtc("2026-12-04T14:10:27+01:00")).toBe("2026-12-04T13:10:27.000Z");
    expect(isoUtc(null)).toBe("");
    expect(isoUtc("not a time")).toBe("not a time");
  });
});
