/** ChatOps' GitHub calls on the Octokit-backed client. */
import type { GitHubClient } from '../github/client.js'
import type { ChatOpsApi } from './comment.js'

export function chatOpsApi(client: GitHubClient): ChatOpsApi {
  return {
    collaboratorPermission: user => client.collaboratorPermission(user),
    isTeamMember: (org, team, user) => client.isTeamMember(org, team, user),
    react: async (commentId, content) => client.addReaction(commentId, content),
    reply: async (issueNumber, body) => {
      const comment = await client.createComment(issueNumber, body)
      return { id: comment.id, url: comment.html_url }
    },
    updateReply: async (commentId, body) => {
      await client.updateComment(commentId, body)
    },
    resolveCommit: ref => client.commitSha(ref)
  }
}
