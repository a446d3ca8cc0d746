// A scriptable EventSource for unit tests: open it, fail it, push events into it.
import { act } from "@testing-library/react";
import type { EventSourceFactory, EventSourceLike } from "../../queries/events";

type Listener = (event: MessageEvent<string>) => void;

export class FakeEventSource implements EventSourceLike {
  readyState = 0;
  closed = false;
  private listeners = new Map<string, Set<Listener>>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: Listener): void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(listener);
  }

  close(): void {
    this.readyState = 2;
    this.closed = true;
  }

  private dispatch(type: string, init?: MessageEventInit<string>): void {
    const event = new MessageEvent<string>(type, init);
    act(() => {
      for (const l of this.listeners.get(type) ?? []) l(event);
    });
  }

  open(): void {
    this.readyState = 1;
    this.dispatch("open");
  }

  /** A dropped connection the browser retries (`closed`: a refused one it does not). */
  fail({ closed = false }: { closed?: boolean } = {}): void {
    this.readyState = closed ? 2 : 0;
    this.dispatch("error");
  }

  emit(type: string, data: unknown, id?: string): void {
    this.dispatch(type, { data: typeof data === "string" ? data : JSON.stringify(data), lastEventId: id ?? "" });
  }
}

/** A factory that records every stream it opens (newest last). */
export function fakeStreams(): { factory: EventSourceFactory; all: FakeEventSource[]; latest: () => FakeEventSource } {
  const all: FakeEventSource[] = [];
  return {
    all,
    factory: (url) => {
      const es = new FakeEventSource(url);
      all.push(es);
      return es;
    },
    latest: () => {
      const es = all[all.length - 1];
      if (!es) throw new Error("no event stream was opened");
      return es;
    },
  };
}
