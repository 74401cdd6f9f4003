/** The database file in the data folder; a folder holding one is a data folder. */
export const DATABASE_FILE = "isohook.db";
