// Strings of the contacts screens (English and Simplified Chinese).

export const en = {
  "contacts.placeholder": "contacts",
};

export const zh: Record<keyof typeof en, string> = {
  "contacts.placeholder": "contacts",
};
