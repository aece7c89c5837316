/** The bearer token the secure bench server accepts. */
export const TOKEN = 'bench-token';
