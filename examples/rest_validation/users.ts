export interface User {
  id: string;
  email: string;
  name: string;
}

/** Stands in for a real user store: gives the new user an id. */
export function createUser(email: string, name: string): User {
  const id = `usr_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return { id, email, name };
}
