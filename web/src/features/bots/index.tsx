// The bots feature: the list (/bots) and one bot (/bots/$botId).
export { BotsPage } from "./BotsPage";
export { BotDetailPage, BotDetail } from "./BotDetailPage";
