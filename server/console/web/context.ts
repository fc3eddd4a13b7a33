/** What every page may read: who is signed in, what they may do, and how to show a once-only secret. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

import type { Client, TokenWithValue, User } from './api.ts';

/** A secret to show once, on its own page, then forget. */
export type Secret =
  | {
      readonly kind: 'token';
      readonly token: TokenWithValue;
      readonly done: string;
      readonly rotated?: boolean;
      /** Until when the rotated-out value still works (null: it stopped at once). */
      readonly graceUntil?: string | null;
    }
  | { readonly kind: 'client'; readonly client: Client; readonly done: string };

export interface Account {
  /** The person's Tokenwarden user, or null when they have none (an admin who owns no tokens). */
  readonly user: User | null;
  /** Whether the API lets them use the admin routes. */
  readonly admin: boolean;
  /** The name to show: the user's username, else the provider's name for them. */
  readonly name: string;
  /** Shows a secret once; navigating away or dismissing it forgets it. */
  readonly showSecret: (secret: Secret) => void;
}

export const AccountContext = createContext<Account | null>(null);

/** The signed-in account (inside the signed-in layout only). */
export function useAccount(): Account {
  const account = useContext(AccountContext);
  if (!account) throw new Error('no account: render inside the signed-in layout');
  return account;
}
