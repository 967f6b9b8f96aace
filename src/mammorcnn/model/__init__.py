"""mammorcnn.model"""
