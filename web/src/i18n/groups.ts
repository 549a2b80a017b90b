// Strings of the groups screens (English and Simplified Chinese).

export const en = {
  "groups.placeholder": "groups",
};

export const zh: Record<keyof typeof en, string> = {
  "groups.placeholder": "groups",
};
