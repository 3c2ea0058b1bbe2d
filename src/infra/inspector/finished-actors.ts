/**
 * The inspector's finished actors, collapsed: an actor that is done, failed or stopped is counted in its group (same
 * parent, same machine or logic, same name — e.g. the DB writer's `flush` promises, one a second) and only the last
 * few of each group are kept for a reader to open. Groups are few and bounded too, so the hub's memory does not grow
 * with uptime however many actors come and go.
 */
import type { LogicKind } from './logic-kind.ts';

export interface FinishedGroup {
  /** `<parent key>|<machine>|<name>`. */
  readonly key: string;
  /** Key of the parent actor, if the hub saw it. */
  readonly parent?: string;
  readonly machine: string;
  readonly kind: LogicKind;
  /** What the actors of the group are called: an invoked logic's `src` (`flush`), a machine's id, or the actor id. */
  readonly name: string;
  /** How many finished since the hub started. */
  readonly count: number;
  /** The same count by final status (`done`, `error`, `stopped`). */
  readonly statuses: Readonly<Record<string, number>>;
  readonly lastAt: number;
  /** Keys of the group's finished actors still kept in the snapshot, oldest first. */
  readonly kept: readonly string[];
}

interface MutableGroup {
  key: string;
  parent?: string;
  machine: string;
  kind: LogicKind;
  name: string;
  count: number;
  statuses: Record<string, number>;
  lastAt: number;
  kept: string[];
}

export interface FinishedActor {
  readonly key: string;
  readonly parent?: string;
  readonly machine: string;
  readonly kind: LogicKind;
  readonly name: string;
  readonly status: string;
}

export class FinishedActors {
  readonly #perGroup: number;
  readonly #total: number;
  readonly #maxGroups: number;
  /** Insertion order is recency: a group that finishes an actor moves to the end; the first is evicted first. */
  readonly #groups = new Map<string, MutableGroup>();
  /** Kept finished actors, oldest first, with their group. */
  readonly #kept = new Map<string, string>();

  /**
   * @param perGroup finished actors kept per group
   * @param total finished actors kept in all
   * @param maxGroups groups kept (the least recently used is forgotten first)
   */
  constructor(perGroup: number, total: number, maxGroups: number) {
    this.#perGroup = Math.max(0, perGroup);
    this.#total = Math.max(0, total);
    this.#maxGroups = Math.max(1, maxGroups);
  }

  /** Counts a finished actor. Returns the group it counts in, the keys of the actors no longer kept, groups forgotten. */
  add(actor: FinishedActor, at: number): { group: string; forgotten: string[]; droppedGroups: string[] } {
    const key = `${actor.parent ?? ''}|${actor.machine}|${actor.name}`;
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = { key, machine: actor.machine, kind: actor.kind, name: actor.name, count: 0, statuses: {}, lastAt: at, kept: [] };
      if (actor.parent !== undefined) group.parent = actor.parent;
    } else {
      this.#groups.delete(key);
    }
    this.#groups.set(key, group);
    group.count++;
    group.statuses[actor.status] = (group.statuses[actor.status] ?? 0) + 1;
    group.lastAt = at;
    group.kept.push(actor.key);
    this.#kept.set(actor.key, key);
    const forgotten: string[] = [];
    const droppedGroups: string[] = [];
    while (group.kept.length > this.#perGroup) forgotten.push(this.#forget(group.kept[0]!));
    for (const oldest of this.#kept.keys()) {
      if (this.#kept.size <= this.#total) break;
      forgotten.push(this.#forget(oldest));
    }
    while (this.#groups.size > this.#maxGroups) {
      const [, oldest] = this.#groups.entries().next().value as [string, MutableGroup];
      for (const kept of [...oldest.kept]) forgotten.push(this.#forget(kept));
      this.#groups.delete(oldest.key);
      droppedGroups.push(oldest.key);
    }
    return { group: key, forgotten, droppedGroups };
  }

  /** The group's current view, if it is still kept. */
  group(key: string): FinishedGroup | undefined {
    const group = this.#groups.get(key);
    return group === undefined ? undefined : { ...group, statuses: { ...group.statuses }, kept: [...group.kept] };
  }

  groups(): FinishedGroup[] {
    return [...this.#groups.keys()].map((key) => this.group(key)!);
  }

  get keptCount(): number {
    return this.#kept.size;
  }

  get groupCount(): number {
    return this.#groups.size;
  }

  #forget(actorKey: string): string {
    const groupKey = this.#kept.get(actorKey);
    this.#kept.delete(actorKey);
    const group = groupKey === undefined ? undefined : this.#groups.get(groupKey);
    if (group !== undefined) group.kept = group.kept.filter((k) => k !== actorKey);
    return actorKey;
  }
}
