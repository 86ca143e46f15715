// The product version, kept in one place (the single binary has no package.json beside it).
export const VERSION = '0.1.0';
